import type { ComponentType } from 'react';
import type { Messages } from './messages-core';

/**
 * A page of the console: one file under pages/ exporting `definePage(…)`, and one line in
 * pages/index.ts. Its path is its route (wouter syntax, `:id` for parameters), `nav` puts it in
 * the main navigation (in `nav` order), `scope` hides it from keys without that scope (the
 * read API checks the same scopes), and its messages carry its `title` in every language.
 */
export interface PageDefinition {
  readonly path: string;
  readonly nav?: number;
  readonly scope: string;
  readonly messages: Messages<{ title: string } & Record<string, string>>;
  readonly component: ComponentType<{ readonly params: Record<string, string | undefined> }>;
}

export function definePage<T extends { title: string } & Record<string, string>>(page: {
  readonly path: string;
  readonly nav?: number;
  readonly scope: string;
  readonly messages: Messages<T>;
  readonly component: ComponentType<{ readonly params: Record<string, string | undefined> }>;
}): PageDefinition {
  return page as unknown as PageDefinition;
}
