import { describe, expect, it } from "vitest";
import { formatCommand, parseCommand } from "./command";

describe("parseCommand", () => {
  it("splits one line like a shell, honouring quotes and escapes", () => {
    expect(parseCommand(`python -c 'print("hi there")'`).argv).toEqual(["python", "-c", 'print("hi there")']);
    expect(parseCommand(`sh -c "echo \\"a b\\" \\$HOME"`).argv).toEqual(["sh", "-c", 'echo "a b" $HOME']);
    expect(parseCommand(`echo a\\ b '' c`).argv).toEqual(["echo", "a b", "", "c"]);
  });

  it("takes several lines as one argument each, as typed", () => {
    expect(parseCommand("sh\n-c\necho 'a  b'\n").argv).toEqual(["sh", "-c", "echo 'a  b'"]);
  });

  it("says what is wrong with an unclosed quote instead of guessing", () => {
    expect(parseCommand(`echo 'oops`)).toEqual({ argv: null, error: "a single quote is not closed" });
    expect(parseCommand(`echo "oops`).error).toBe("a double quote is not closed");
  });

  it("reads back what formatCommand writes when arguments have no line breaks", () => {
    const argv = ["python", "-m", "train", "--lr=0.1"];
    expect(parseCommand(formatCommand(argv)).argv).toEqual(argv);
    expect(parseCommand("   ").argv).toEqual([]);
  });
});
