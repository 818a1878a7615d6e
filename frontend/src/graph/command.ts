// A step's command as the user types it. Pure.

export type ParsedCommand = { argv: string[]; error: null } | { argv: null; error: string };

/**
 * Several non-empty lines: one argument per line, taken as typed. One line: split like a POSIX
 * shell would, without running anything: blanks separate words, '...' keeps everything literal,
 * "..." keeps blanks and honours \" \\ \$ \`, a backslash outside quotes escapes one character.
 */
export function parseCommand(text: string): ParsedCommand {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length === 0) return { argv: [], error: null };
  if (lines.length > 1) return { argv: lines, error: null };
  return splitShellWords(lines[0]!);
}

export function splitShellWords(line: string): ParsedCommand {
  const argv: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= line.length) return { argv: null, error: "the command ends with a lone backslash" };
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) return { argv: null, error: `a ${quote === "'" ? "single" : "double"} quote is not closed` };
  if (inWord) argv.push(word);
  return { argv, error: null };
}

/** The text the command box shows: one argument per line (what parseCommand reads back). */
export function formatCommand(argv: readonly string[]): string {
  return argv.join("\n");
}
