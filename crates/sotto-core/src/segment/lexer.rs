//! Tokens of the segment language, each with its line and column for error messages.

use crate::error::FieldError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: a field, an event, a keyword.
    Word(String),
    /// A quoted string.
    Str(String),
    /// A number.
    Num(f64),
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `,`.
    Comma,
    /// End of input.
    End,
}

/// A token and where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Line.
    pub line: usize,
    /// Column.
    pub col: usize,
}

/// A parse error with position.
pub fn error_at(line: usize, col: usize, message: impl Into<String>) -> FieldError {
    FieldError::new("invalid_segment", "definition", format!("line {line}, column {col}: {}", message.into()))
}

/// Splits a definition into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, FieldError> {
    let chars: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_col) = (line, col);
        let advance = |n: usize, i: &mut usize, col: &mut usize| {
            *i += n;
            *col += n;
        };
        if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            advance(1, &mut i, &mut col);
            continue;
        }
        let push = |tok: Tok, out: &mut Vec<Token>| out.push(Token { tok, line: start_line, col: start_col });
        match c {
            '(' => push(Tok::LParen, &mut out),
            ')' => push(Tok::RParen, &mut out),
            '[' => push(Tok::LBracket, &mut out),
            ']' => push(Tok::RBracket, &mut out),
            ',' => push(Tok::Comma, &mut out),
            '=' => push(Tok::Op("="), &mut out),
            '!' | '<' | '>' => {
                let two = chars.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('!', true) => "!=",
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('<', false) => "<",
                    ('>', false) => ">",
                    _ => return Err(error_at(line, col, "expected != after !")),
                };
                push(Tok::Op(op), &mut out);
                if two {
                    advance(1, &mut i, &mut col);
                }
            }
            '"' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None | Some('\n') => return Err(error_at(start_line, start_col, "this string is not closed with \"")),
                        Some('"') => break,
                        Some('\\') if chars.get(j + 1) == Some(&'"') => {
                            text.push('"');
                            j += 2;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            j += 1;
                        }
                    }
                }
                push(Tok::Str(text), &mut out);
                let n = j - i;
                advance(n, &mut i, &mut col);
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                let mut j = i + 1;
                while chars.get(j).is_some_and(|ch| ch.is_ascii_digit() || *ch == '.' || *ch == '-') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let tok = match text.parse::<f64>() {
                    // A number too large for a double would be stored as null and never read back.
                    Ok(n) if !n.is_finite() => return Err(error_at(line, col, "this number is too large")),
                    Ok(n) => Tok::Num(n),
                    // A bare date such as 2026-01-31 stays text.
                    Err(_) => Tok::Str(text),
                };
                push(tok, &mut out);
                advance(j - i - 1, &mut i, &mut col);
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while chars.get(j).is_some_and(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == ':') {
                    j += 1;
                }
                push(Tok::Word(chars[i..j].iter().collect()), &mut out);
                advance(j - i - 1, &mut i, &mut col);
            }
            other => return Err(error_at(line, col, format!("unexpected character {other:?}"))),
        }
        advance(1, &mut i, &mut col);
    }
    out.push(Token { tok: Tok::End, line, col });
    Ok(out)
}
