// Questions on the terminal, for what was not given on the command line (passwords, the emailed code). Only used
// when stdin is a TTY: in scripts and CI a missing value is an error or an exit code, never a hang.
import readline from 'node:readline'

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY)
}

/** Ask `question` and resolve with the trimmed answer; `hidden` echoes nothing (passwords). */
export function prompt(question: string, { hidden = false } = {}): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true })
  const answered = new Promise<string>((resolve) => {
    rl.question(question, (answer) => {
      rl.close()
      resolve(answer.trim())
    })
  })
  if (hidden) {
    // The question has been written (synchronously, above); from now on readline's echo of each keystroke goes
    // through _writeToOutput, which is made to print only the final newline.
    const r = rl as unknown as { _writeToOutput: (s: string) => void }
    r._writeToOutput = (s: string) => {
      if (s.includes('\n') || s.includes('\r')) process.stdout.write('\n')
    }
  }
  return answered
}
