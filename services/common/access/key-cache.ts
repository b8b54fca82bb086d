import type { ApiKeyRecord } from './api-key';
import type { KeyDirectory } from './authenticate';

/** The keys a service knows, as the key topic last said (a null record deletes). */
export class KeyCache implements KeyDirectory {
  private readonly keys = new Map<string, ApiKeyRecord>();

  find(id: string): ApiKeyRecord | undefined {
    return this.keys.get(id);
  }

  put(record: ApiKeyRecord): void {
    this.keys.set(record.id, record);
  }

  delete(id: string): void {
    this.keys.delete(id);
  }

  list(): ApiKeyRecord[] {
    return [...this.keys.values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }
}
