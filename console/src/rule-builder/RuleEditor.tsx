import { useId, useState, type ReactNode } from 'react';
import { useMessages } from '../app/i18n';
import {
  channels as channelNames,
  compareOps,
  conditionTypes,
  dateParts,
  emptyComparison,
  eventTypes,
  labelOps,
  newConditionNode,
  newGroup,
  numberOps,
  rfmFields,
  rfmLabels,
  units,
  valueOps,
  type ComparisonForm,
  type ConditionForm,
  type ConditionType,
  type DurationForm,
  type EventFilterForm,
  type FormProblem,
  type RuleNode,
} from './rule-model';
import { ruleMessages } from './rule-messages';

type T = ReturnType<typeof useMessages<(typeof ruleMessages)['en']>>;

export interface SegmentChoice {
  readonly id: string;
  readonly name: string;
}

/**
 * The rule as a form: groups (and / or, optionally negated) of conditions of every kind of the
 * rule language. Fully keyboard-operable: native fields, labels on all of them, fieldsets with
 * legends per condition.
 */
export function RuleEditor(props: {
  readonly node: RuleNode;
  readonly onChange: (node: RuleNode) => void;
  readonly onRemove?: () => void;
  readonly segments: readonly SegmentChoice[];
  readonly problem: FormProblem | null;
  readonly depth?: number;
}) {
  const t = useMessages(ruleMessages);
  const { node, onChange } = props;
  const depth = props.depth ?? 0;
  const problemHere = props.problem && props.problem.at.split('.')[0] === node.id ? props.problem : null;
  if (node.kind === 'condition')
    return (
      <fieldset className={`condition${node.negate ? ' negated' : ''}`} data-testid="rule-condition">
        <legend>{t(`type_${node.condition.type}`)}</legend>
        <NodeTools node={node} onChange={onChange} onRemove={props.onRemove} removeLabel={t('remove')} t={t} />
        <ConditionFields
          condition={node.condition}
          onChange={(condition) => onChange({ ...node, condition })}
          segments={props.segments}
          t={t}
        />
        {problemHere ? <ProblemText problem={problemHere} t={t} /> : null}
      </fieldset>
    );
  return <Group {...props} depth={depth} problemHere={problemHere} t={t} node={node} onChange={onChange} />;
}

/** A node's own tools: negate it, and remove it unless it is the root. */
function NodeTools(props: {
  readonly node: RuleNode;
  readonly onChange: (node: RuleNode) => void;
  readonly onRemove?: () => void;
  readonly removeLabel: string;
  readonly t: T;
}) {
  const { node, onChange } = props;
  return (
    <div className="condition-tools">
      <label className="inline">
        <input
          type="checkbox"
          checked={node.negate}
          onChange={(e) => onChange({ ...node, negate: e.target.checked })}
        />{' '}
        {props.t('not')}
      </label>
      {props.onRemove ? (
        <button type="button" className="link" onClick={props.onRemove}>
          {props.removeLabel}
        </button>
      ) : null}
    </div>
  );
}

function Group(props: {
  readonly node: Extract<RuleNode, { kind: 'group' }>;
  readonly onChange: (node: RuleNode) => void;
  readonly onRemove?: () => void;
  readonly segments: readonly SegmentChoice[];
  readonly problem: FormProblem | null;
  readonly problemHere: FormProblem | null;
  readonly depth: number;
  readonly t: T;
}) {
  const { node, onChange, t } = props;
  const [adding, setAdding] = useState<ConditionType>('trait');
  const id = useId();
  const replace = (index: number, child: RuleNode | null) =>
    onChange({
      ...node,
      children:
        child === null
          ? node.children.filter((_, i) => i !== index)
          : node.children.map((c, i) => (i === index ? child : c)),
    });
  return (
    <fieldset className={`group depth-${props.depth}${node.negate ? ' negated' : ''}`} data-testid="rule-group">
      <legend>
        <label htmlFor={`${id}-op`} className="visually-hidden">
          {t('combine')}
        </label>
        <select
          id={`${id}-op`}
          value={node.op}
          onChange={(e) => onChange({ ...node, op: e.target.value as 'and' | 'or' })}
        >
          <option value="and">{t('all')}</option>
          <option value="or">{t('any')}</option>
        </select>
      </legend>
      <NodeTools node={node} onChange={onChange} onRemove={props.onRemove} removeLabel={t('removeGroup')} t={t} />
      <ol className="children">
        {node.children.map((child, index) => (
          <li key={child.id}>
            <RuleEditor
              node={child}
              onChange={(next) => replace(index, next)}
              onRemove={() => replace(index, null)}
              segments={props.segments}
              problem={props.problem}
              depth={props.depth + 1}
            />
          </li>
        ))}
      </ol>
      {props.problemHere ? <ProblemText problem={props.problemHere} t={t} /> : null}
      <div className="add-row">
        <label htmlFor={`${id}-type`}>{t('conditionType')}</label>
        <select
          id={`${id}-type`}
          value={adding}
          onChange={(e) => setAdding(e.target.value as ConditionType)}
          data-testid="add-condition-type"
        >
          {conditionTypes.map((type) => (
            <option key={type} value={type}>
              {t(`type_${type}`)}
            </option>
          ))}
        </select>
        <button
          type="button"
          onClick={() => onChange({ ...node, children: [...node.children, newConditionNode(adding)] })}
          data-testid="add-condition"
        >
          {t('addCondition')}
        </button>
        {props.depth < 6 ? (
          <button
            type="button"
            onClick={() =>
              onChange({ ...node, children: [...node.children, newGroup(node.op === 'and' ? 'or' : 'and')] })
            }
          >
            {t('addGroup')}
          </button>
        ) : null}
      </div>
    </fieldset>
  );
}

function ProblemText({ problem, t }: { readonly problem: FormProblem; readonly t: T }) {
  const field = problem.at.split('.').slice(1).join('.');
  return (
    <p className="field-error" role="alert">
      {field ? `${field}: ` : ''}
      {t(problem.problem)}
    </p>
  );
}

function Field({ label, children }: { readonly label: string; readonly children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
    </div>
  );
}

function Select<V extends string>(props: {
  readonly label: string;
  readonly value: V;
  readonly options: readonly { value: V; label: string }[];
  readonly onChange: (value: V) => void;
  readonly testId?: string;
}) {
  return (
    <Field label={props.label}>
      {(id) => (
        <select
          id={id}
          value={props.value}
          onChange={(e) => props.onChange(e.target.value as V)}
          data-testid={props.testId}
        >
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

function Text(props: {
  readonly label: string;
  readonly value: string;
  readonly onChange: (value: string) => void;
  readonly inputMode?: 'numeric' | 'decimal';
  readonly testId?: string;
  readonly list?: string;
}) {
  return (
    <Field label={props.label}>
      {(id) => (
        <input
          id={id}
          value={props.value}
          inputMode={props.inputMode}
          spellCheck={false}
          list={props.list}
          onChange={(e) => props.onChange(e.target.value)}
          data-testid={props.testId}
        />
      )}
    </Field>
  );
}

function ConditionFields(props: {
  readonly condition: ConditionForm;
  readonly onChange: (c: ConditionForm) => void;
  readonly segments: readonly SegmentChoice[];
  readonly t: T;
}) {
  const { condition: c, onChange, t } = props;
  switch (c.type) {
    case 'trait':
      return (
        <div className="fields">
          <Text
            label={t('traitPath')}
            value={c.path}
            onChange={(path) => onChange({ ...c, path })}
            testId="trait-path"
          />
          <Select
            label={t('datePart')}
            value={c.part}
            options={[
              { value: '', label: t('wholeValue') },
              ...dateParts.map((p) => ({ value: p, label: t(`part_${p}`) })),
            ]}
            onChange={(part) =>
              onChange({
                ...c,
                part,
                op: part && !numberOps.includes(c.op as never) ? 'eq' : c.op,
                valueType: part ? 'number' : c.valueType,
              })
            }
          />
          <Comparison
            form={c}
            ops={c.part ? numberOps : valueOps}
            numbersOnly={c.part !== ''}
            allowNow={c.part !== ''}
            onChange={(form) => onChange({ ...c, ...form })}
            t={t}
          />
        </div>
      );
    case 'rfm':
      return (
        <div className="fields">
          <Select
            label={t('rfmField')}
            value={c.field}
            options={rfmFields.map((f) => ({ value: f, label: t(`rf_${f}`) }))}
            onChange={(field) => onChange({ ...c, field, op: field === 'label' ? 'in' : 'gte', labels: [] })}
          />
          {c.field === 'label' ? (
            <>
              <Select
                label={t('operator')}
                value={c.op}
                options={labelOps.map((op) => ({ value: op, label: t(`op_${op}`) }))}
                onChange={(op) => onChange({ ...c, op, labels: c.labels.slice(0, op === 'in' ? undefined : 1) })}
              />
              <fieldset className="checks">
                <legend>{t('labels')}</legend>
                {rfmLabels.map((label) => (
                  <label key={label} className="inline">
                    <input
                      type={c.op === 'in' ? 'checkbox' : 'radio'}
                      checked={c.labels.includes(label)}
                      onChange={(e) =>
                        onChange({
                          ...c,
                          labels:
                            c.op === 'in'
                              ? e.target.checked
                                ? [...c.labels, label]
                                : c.labels.filter((l) => l !== label)
                              : [label],
                        })
                      }
                    />{' '}
                    {label}
                  </label>
                ))}
              </fieldset>
            </>
          ) : (
            <Comparison form={c} ops={numberOps} numbersOnly onChange={(form) => onChange({ ...c, ...form })} t={t} />
          )}
        </div>
      );
    case 'performed':
      return (
        <div className="fields">
          <EventFilter filter={c.filter} onChange={(filter) => onChange({ ...c, filter })} t={t} />
          <OptionalDuration
            label={t('within')}
            value={c.within}
            onChange={(within) => onChange({ ...c, within })}
            t={t}
          />
          <Select
            label={t('aggregate')}
            value={c.aggregate}
            options={(['none', 'count', 'sum'] as const).map((a) => ({ value: a, label: t(`ag_${a}`) }))}
            onChange={(aggregate) => onChange({ ...c, aggregate })}
            testId="performed-aggregate"
          />
          {c.aggregate === 'sum' ? (
            <>
              <Select
                label={t('sumOf')}
                value={c.sumOf}
                options={(['revenue', 'property'] as const).map((s) => ({ value: s, label: t(`so_${s}`) }))}
                onChange={(sumOf) => onChange({ ...c, sumOf })}
              />
              {c.sumOf === 'property' ? (
                <Text
                  label={t('property')}
                  value={c.sumProperty}
                  onChange={(sumProperty) => onChange({ ...c, sumProperty })}
                />
              ) : null}
            </>
          ) : null}
          {c.aggregate !== 'none' ? (
            <Comparison form={c} ops={numberOps} numbersOnly onChange={(form) => onChange({ ...c, ...form })} t={t} />
          ) : null}
        </div>
      );
    case 'sequence':
      return (
        <div className="fields">
          <EventFilter filter={c.filter} onChange={(filter) => onChange({ ...c, filter })} t={t} />
          <fieldset className="sub">
            <legend>{t('thenNot')}</legend>
            <EventFilter
              filter={c.notFollowedBy}
              onChange={(notFollowedBy) => onChange({ ...c, notFollowedBy })}
              t={t}
            />
          </fieldset>
          <DurationFields
            label={t('withinAfter')}
            value={c.within}
            onChange={(within) => onChange({ ...c, within })}
            t={t}
          />
          <OptionalDuration
            label={t('lookback')}
            value={c.lookback}
            onChange={(lookback) => onChange({ ...c, lookback })}
            t={t}
          />
        </div>
      );
    case 'lastPerformed':
      return (
        <div className="fields">
          <EventFilter filter={c.filter} onChange={(filter) => onChange({ ...c, filter })} t={t} />
          <Select
            label={t('lastOp')}
            value={c.op}
            options={compareOps.map((op) => ({ value: op, label: t(`op_${op}`) }))}
            onChange={(op) => onChange({ ...c, op })}
          />
          <DurationFields
            label={t('ago')}
            value={c.duration}
            onChange={(duration) => onChange({ ...c, duration })}
            t={t}
          />
        </div>
      );
    case 'channels':
      return (
        <div className="fields">
          <ChannelChecks value={c.channels} onChange={(channels) => onChange({ ...c, channels })} t={t} />
          <Select
            label={t('match')}
            value={c.match}
            options={(['any', 'all'] as const).map((m) => ({ value: m, label: t(`match_${m}`) }))}
            onChange={(match) => onChange({ ...c, match })}
          />
          <OptionalDuration
            label={t('within')}
            value={c.within}
            onChange={(within) => onChange({ ...c, within })}
            t={t}
          />
        </div>
      );
    case 'inSegment':
      return (
        <div className="fields">
          <Select
            label={t('segment')}
            value={c.segmentId}
            options={[
              { value: '', label: t('chooseSegment') },
              ...props.segments.map((s) => ({ value: s.id, label: s.name })),
            ]}
            onChange={(segmentId) => onChange({ ...c, segmentId })}
          />
        </div>
      );
    case 'consent':
      return (
        <div className="fields">
          <Text label={t('purpose')} value={c.purpose} onChange={(purpose) => onChange({ ...c, purpose })} />
        </div>
      );
  }
}

function Comparison(props: {
  readonly form: ComparisonForm;
  readonly ops: readonly string[];
  readonly numbersOnly?: boolean;
  readonly allowNow?: boolean;
  readonly onChange: (form: ComparisonForm) => void;
  readonly t: T;
}) {
  const { form, t, onChange } = props;
  const set = (patch: Partial<ComparisonForm>) => onChange({ ...form, ...patch });
  return (
    <>
      <Select
        label={t('operator')}
        value={form.op}
        options={props.ops.map((op) => ({ value: op, label: t(`op_${op}` as 'op_eq') }))}
        onChange={(op) => set({ op })}
        testId="comparison-op"
      />
      {props.numbersOnly || form.op === 'exists' || form.op === 'contains' ? null : (
        <Select
          label={t('valueType')}
          value={form.valueType}
          options={(['text', 'number', 'boolean'] as const)
            .filter((v) => v !== 'boolean' || form.op === 'eq' || form.op === 'neq')
            .map((v) => ({ value: v, label: t(`vt_${v}`) }))}
          onChange={(valueType) => set({ valueType, value: valueType === 'boolean' ? 'true' : form.value })}
          testId="comparison-type"
        />
      )}
      {form.op === 'exists' ? null : form.op === 'in' ? (
        <Text
          label={t('values')}
          value={form.values}
          onChange={(values) => set({ values })}
          testId="comparison-values"
        />
      ) : form.op === 'range' ? (
        <>
          <Text label={t('min')} value={form.min} onChange={(min) => set({ min })} />
          <Text label={t('max')} value={form.max} onChange={(max) => set({ max })} />
        </>
      ) : form.valueType === 'boolean' && !props.numbersOnly ? (
        <Select
          label={t('value')}
          value={form.value === 'false' ? 'false' : 'true'}
          options={[
            { value: 'true', label: 'true' },
            { value: 'false', label: 'false' },
          ]}
          onChange={(value) => set({ value })}
          testId="comparison-boolean"
        />
      ) : (
        <>
          {props.allowNow ? (
            <label className="inline">
              <input type="checkbox" checked={form.now} onChange={(e) => set({ now: e.target.checked })} />{' '}
              {t('sameAsNow')}
            </label>
          ) : null}
          {form.now ? null : (
            <Text
              label={t('value')}
              value={form.value}
              onChange={(value) => set({ value })}
              inputMode={props.numbersOnly ? 'decimal' : undefined}
              testId="comparison-value"
            />
          )}
        </>
      )}
    </>
  );
}

function EventFilter(props: {
  readonly filter: EventFilterForm;
  readonly onChange: (f: EventFilterForm) => void;
  readonly t: T;
}) {
  const { filter, onChange, t } = props;
  return (
    <>
      <Text
        label={t('event')}
        value={filter.event}
        onChange={(event) => onChange({ ...filter, event })}
        testId="event-name"
        list="known-events"
      />
      <Select
        label={t('eventType')}
        value={filter.type}
        options={[{ value: '', label: t('anyType') }, ...eventTypes.map((e) => ({ value: e, label: e }))]}
        onChange={(type) => onChange({ ...filter, type })}
      />
      {filter.type === 'page' || filter.type === 'screen' ? (
        <Text label={t('pageName')} value={filter.name} onChange={(name) => onChange({ ...filter, name })} />
      ) : null}
      <ChannelChecks value={filter.channels} onChange={(channels) => onChange({ ...filter, channels })} t={t} hint />
      <fieldset className="sub">
        <legend>{t('properties')}</legend>
        {filter.where.map((w, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: property conditions have no identity but their place; the fields are controlled
          <div className="fields" key={i}>
            <Text
              label={t('property')}
              value={w.property}
              onChange={(property) =>
                onChange({ ...filter, where: filter.where.map((x, j) => (j === i ? { ...x, property } : x)) })
              }
            />
            <Comparison
              form={w}
              ops={valueOps}
              onChange={(form) =>
                onChange({ ...filter, where: filter.where.map((x, j) => (j === i ? { ...x, ...form } : x)) })
              }
              t={t}
            />
            <button
              type="button"
              className="link"
              onClick={() => onChange({ ...filter, where: filter.where.filter((_, j) => j !== i) })}
            >
              {t('remove')}
            </button>
          </div>
        ))}
        <button
          type="button"
          onClick={() => onChange({ ...filter, where: [...filter.where, { property: '', ...emptyComparison() }] })}
        >
          {t('addProperty')}
        </button>
      </fieldset>
    </>
  );
}

function ChannelChecks(props: {
  readonly value: string[];
  readonly onChange: (v: string[]) => void;
  readonly t: T;
  readonly hint?: boolean;
}) {
  return (
    <fieldset className="checks">
      <legend>{props.t('channels')}</legend>
      {channelNames.map((ch) => (
        <label key={ch} className="inline">
          <input
            type="checkbox"
            checked={props.value.includes(ch)}
            onChange={(e) =>
              props.onChange(e.target.checked ? [...props.value, ch] : props.value.filter((v) => v !== ch))
            }
            data-testid={`channel-${ch}`}
          />{' '}
          {ch}
        </label>
      ))}
      {props.hint ? <span className="muted">{props.t('anyChannel')}</span> : null}
    </fieldset>
  );
}

function DurationFields(props: {
  readonly label: string;
  readonly value: DurationForm;
  readonly onChange: (d: DurationForm) => void;
  readonly t: T;
}) {
  const { t } = props;
  return (
    <fieldset className="duration">
      <legend>{props.label}</legend>
      <Text
        label={t('amount')}
        value={props.value.amount}
        inputMode="numeric"
        onChange={(amount) => props.onChange({ ...props.value, amount })}
      />
      <Select
        label={t('unit')}
        value={props.value.unit}
        options={units.map((u) => ({ value: u, label: t(`unit_${u}`) }))}
        onChange={(unit) => props.onChange({ ...props.value, unit })}
      />
    </fieldset>
  );
}

function OptionalDuration(props: {
  readonly label: string;
  readonly value: DurationForm | null;
  readonly onChange: (d: DurationForm | null) => void;
  readonly t: T;
}) {
  return (
    <div className="optional-duration">
      <label className="inline">
        <input
          type="checkbox"
          checked={props.value !== null}
          onChange={(e) => props.onChange(e.target.checked ? { amount: '30', unit: 'days' } : null)}
          data-testid="within-toggle"
        />{' '}
        {props.label}
      </label>
      {props.value ? (
        <DurationFields label={props.t('withinAfter')} value={props.value} onChange={props.onChange} t={props.t} />
      ) : (
        <span className="muted"> ({props.t('allTime')})</span>
      )}
    </div>
  );
}
