import { keyedHash, pseudonymiseSqlLiterals } from '../../../../services/common/audit/keyed-hash';

const key = Buffer.alloc(32, 7);
const pseudonym = (literal: string) => `'h:${keyedHash(key, literal).slice(0, 16)}'`;

describe('SQL text as the audit trail keeps it', () => {
  it('replaces single-quoted literals, escapes included, and leaves the rest', () => {
    expect(pseudonymiseSqlLiterals(key, "SELECT * FROM identities WHERE identifier_value = 'ann@example.com'")).toBe(
      `SELECT * FROM identities WHERE identifier_value = ${pseudonym('ann@example.com')}`,
    );
    expect(pseudonymiseSqlLiterals(key, "SELECT 'O''Brien', 'a\\'b' AS `x$y`")).toBe(
      `SELECT ${pseudonym("O'Brien")}, ${pseudonym("a'b")} AS \`x$y\``,
    );
  });

  it('replaces heredoc literals ($$…$$, $tag$…$tag$), which ClickHouse reads as strings too', () => {
    const sql = "SELECT * FROM identities WHERE identifier_value IN ($$ann@example.com$$, $e$bob's@example.com$e$)";
    const kept = pseudonymiseSqlLiterals(key, sql);
    expect(kept).not.toContain('example.com');
    expect(kept).toBe(
      `SELECT * FROM identities WHERE identifier_value IN (${pseudonym('ann@example.com')}, ${pseudonym("bob's@example.com")})`,
    );
  });
});
