//! A command to benchmark: an argument vector run directly (no shell), or a
//! script run by `/bin/sh -c` when the user asks for a shell.
//!
//! Strings are split with POSIX shell-words rules — whitespace separates
//! words; single quotes keep everything literally; double quotes keep
//! everything except `\` before `$`, `` ` ``, `"`, `\` or a newline; a
//! backslash outside quotes escapes the next character; `#` at the start of
//! a word begins a comment — without ever invoking a shell. Nothing is
//! expanded: no variables, globs or `~`. A bare `|`, `&&`, `;`, `>` or `<`
//! word is refused with a hint to use `--shell`, because without a shell it
//! would be passed to the program as an argument.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The shell used with `--shell`.
pub const SHELL: &str = "/bin/sh";

/// A command as it will be executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// What the user wrote (or the argument vector quoted back into one
    /// string).
    pub display: String,
    /// The program and its arguments, exactly as passed to the kernel.
    pub argv: Vec<String>,
    /// Whether `argv` is `/bin/sh -c SCRIPT`.
    pub shell: bool,
}

impl CommandSpec {
    /// Parse a command string. Without `shell`, split it into words; with
    /// it, hand the string to `/bin/sh -c` unchanged.
    pub fn parse(s: &str, shell: bool) -> Result<Self> {
        if shell {
            if s.trim().is_empty() {
                return Err(Error::EmptyCommand);
            }
            return Ok(CommandSpec { display: s.to_string(), argv: vec![SHELL.into(), "-c".into(), s.into()], shell: true });
        }
        let words = split(s)?;
        if words.is_empty() {
            return Err(Error::EmptyCommand);
        }
        Ok(CommandSpec { display: s.to_string(), argv: words, shell: false })
    }

    /// An argument vector given word by word (after `--`). With `shell`, the
    /// words are joined with spaces into one script.
    pub fn from_argv(argv: Vec<String>, shell: bool) -> Result<Self> {
        if argv.is_empty() {
            return Err(Error::EmptyCommand);
        }
        if shell {
            return Self::parse(&argv.join(" "), true);
        }
        Ok(CommandSpec { display: join(&argv), argv, shell: false })
    }
}

/// Split a string into words by shell-words rules (see the module doc).
pub fn split(s: &str) -> Result<Vec<String>> {
    #[derive(PartialEq)]
    enum St {
        Between,
        Word,
        Single,
        Double,
        Comment,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted_word = false; // the current word has quoted parts
    let mut st = St::Between;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match st {
            St::Between | St::Word => match c {
                ' ' | '\t' | '\n' => {
                    if st == St::Word {
                        push_word(&mut words, &mut word, quoted_word, s)?;
                        quoted_word = false;
                    }
                    st = St::Between;
                }
                '\'' => {
                    st = St::Single;
                    quoted_word = true;
                }
                '"' => {
                    st = St::Double;
                    quoted_word = true;
                }
                '\\' => match chars.next() {
                    Some('\n') => {}
                    Some(n) => {
                        word.push(n);
                        quoted_word = true;
                        st = St::Word;
                    }
                    None => return Err(Error::TrailingBackslash(s.into())),
                },
                '#' if st == St::Between => st = St::Comment,
                _ => {
                    word.push(c);
                    st = St::Word;
                }
            },
            St::Single => match c {
                '\'' => st = St::Word,
                _ => word.push(c),
            },
            St::Double => match c {
                '"' => st = St::Word,
                '\\' => match chars.next() {
                    Some(n @ ('$' | '`' | '"' | '\\')) => word.push(n),
                    Some('\n') => {}
                    Some(n) => {
                        word.push('\\');
                        word.push(n);
                    }
                    None => return Err(Error::UnterminatedQuote("double", s.into())),
                },
                _ => word.push(c),
            },
            St::Comment => {
                if c == '\n' {
                    st = St::Between;
                }
            }
        }
    }
    match st {
        St::Single => Err(Error::UnterminatedQuote("single", s.into())),
        St::Double => Err(Error::UnterminatedQuote("double", s.into())),
        St::Word => {
            push_word(&mut words, &mut word, quoted_word, s)?;
            Ok(words)
        }
        _ => Ok(words),
    }
}

fn push_word(words: &mut Vec<String>, word: &mut String, quoted: bool, s: &str) -> Result<()> {
    const SYNTAX: [&str; 11] = ["|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "2>&1", "|&"];
    if !quoted && SYNTAX.contains(&word.as_str()) {
        return Err(Error::ShellSyntax { word: std::mem::take(word), command: s.into() });
    }
    words.push(std::mem::take(word));
    Ok(())
}

/// Quote words back into one string that [`split`] turns into the same
/// words.
pub fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

fn quote(w: &str) -> String {
    let safe = !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
    if safe {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split("sleep 0.1").unwrap(), s(&["sleep", "0.1"]));
        assert_eq!(split("  a\t b\n").unwrap(), s(&["a", "b"]));
        assert_eq!(split("echo 'a b' \"c d\" e\\ f").unwrap(), s(&["echo", "a b", "c d", "e f"]));
        assert_eq!(split(r#"x "a\"b\\c\$d\e" 'it'\''s'"#).unwrap(), s(&["x", r#"a"b\c$d\e"#, "it's"]));
        assert_eq!(split("a'b'\"c\"d").unwrap(), s(&["abcd"]));
        assert_eq!(split("a '' b").unwrap(), s(&["a", "", "b"]));
        assert_eq!(split("a # comment\nb").unwrap(), s(&["a", "b"]));
        assert_eq!(split("a#b").unwrap(), s(&["a#b"]));
        assert_eq!(split("$HOME *.rs ~").unwrap(), s(&["$HOME", "*.rs", "~"]));
        assert_eq!(split("a \\\n b").unwrap(), s(&["a", "b"]));
        assert_eq!(split("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn refuses_bad_quoting_and_shell_syntax() {
        assert!(matches!(split("a 'b"), Err(Error::UnterminatedQuote("single", _))));
        assert!(matches!(split("a \"b"), Err(Error::UnterminatedQuote("double", _))));
        assert!(matches!(split("a \\"), Err(Error::TrailingBackslash(_))));
        assert!(matches!(split("a | b"), Err(Error::ShellSyntax { .. })));
        assert!(matches!(split("a && b"), Err(Error::ShellSyntax { .. })));
        assert_eq!(split("a '|' b").unwrap(), s(&["a", "|", "b"]));
        assert_eq!(split("grep a|b").unwrap(), s(&["grep", "a|b"]));
        assert!(matches!(CommandSpec::parse("   ", false), Err(Error::EmptyCommand)));
    }

    #[test]
    fn shell_mode_keeps_the_script() {
        let c = CommandSpec::parse("a | b", true).unwrap();
        assert_eq!(c.argv, s(&[SHELL, "-c", "a | b"]));
        let c = CommandSpec::from_argv(s(&["echo", "hi"]), true).unwrap();
        assert_eq!(c.argv, s(&[SHELL, "-c", "echo hi"]));
    }

    #[test]
    fn join_round_trips() {
        for words in [s(&["a", "b c", "it's", "", "$x", "\"q\""]), s(&["true"])] {
            assert_eq!(split(&join(&words)).unwrap(), words);
        }
    }
}
