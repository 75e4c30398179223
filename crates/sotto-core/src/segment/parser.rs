//! A recursive-descent parser for the segment language. Precedence: `not` binds tightest,
//! then `and`, then `or`; parentheses group. Errors name the line, column and what was
//! expected.

use jiff::civil::Date;

use super::lexer::{Tok, Token, error_at, lex};
use super::{CmpOp, Condition, CountOp, EventWindow, Expr, Literal};
use crate::consent::Topic;
use crate::contact::Channel;
use crate::error::FieldError;

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "exists", "has", "did", "where", "within", "between", "at", "least", "most", "exactly", "times", "days", "consent", "topic", "authorized", "true", "false"];

/// How many `not` and `(` may enclose a condition. Real definitions nest a handful deep;
/// the bound keeps every recursive walk (parsing, checks, the JSON form, evaluation, the
/// stored round trip through serde_json's own limit of 128) far from the stack's end.
pub const MAX_NESTING: usize = 24;

/// Parses a definition.
pub fn parse(src: &str) -> Result<Expr, FieldError> {
    let mut p = Parser { toks: lex(src)?, pos: 0, depth: 0 };
    let expr = p.or()?;
    match p.peek() {
        Tok::End => Ok(expr),
        _ => Err(p.expected("and, or, or the end of the definition")),
    }
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn next(&mut self) -> Tok {
        let tok = self.peek().clone();
        self.pos = (self.pos + 1).min(self.toks.len() - 1);
        tok
    }

    /// An error at the current token. What was found is described by its kind, never quoted:
    /// a definition may hold anything a person typed.
    fn expected(&self, what: &str) -> FieldError {
        let t = &self.toks[self.pos.min(self.toks.len() - 1)];
        let found = match &t.tok {
            Tok::Word(w) if KEYWORDS.contains(&w.as_str()) => format!("the keyword {w}"),
            Tok::Word(_) => "a name".to_owned(),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Num(_) => "a number".to_owned(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::End => "the end of the definition".into(),
            other => format!("{other:?}"),
        };
        error_at(t.line, t.col, format!("expected {what}, found {found}"))
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x == w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.next();
            true
        } else {
            false
        }
    }

    fn word(&mut self, w: &str) -> Result<(), FieldError> {
        if self.eat_word(w) { Ok(()) } else { Err(self.expected(w)) }
    }

    fn punct(&mut self, tok: Tok, what: &str) -> Result<(), FieldError> {
        if *self.peek() != tok {
            return Err(self.expected(what));
        }
        self.next();
        Ok(())
    }

    fn name(&mut self, what: &str) -> Result<String, FieldError> {
        match self.peek().clone() {
            Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) => {
                self.next();
                Ok(w)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn or(&mut self) -> Result<Expr, FieldError> {
        let mut items = vec![self.and()?];
        while self.eat_word("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, FieldError> {
        let mut items = vec![self.unary()?];
        while self.eat_word("and") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, FieldError> {
        let nests = self.is_word("not") || *self.peek() == Tok::LParen;
        if !nests {
            return self.condition().map(Expr::Cond);
        }
        if self.depth == MAX_NESTING {
            let t = &self.toks[self.pos.min(self.toks.len() - 1)];
            return Err(FieldError::new(
                "too_deeply_nested",
                "definition",
                format!("line {}, column {}: a definition may nest not and parentheses at most {MAX_NESTING} deep", t.line, t.col),
            ));
        }
        self.depth += 1;
        let expr = if self.eat_word("not") {
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else {
            self.next();
            self.or().and_then(|inner| self.punct(Tok::RParen, ")").map(|()| inner))
        };
        self.depth -= 1;
        expr
    }

    fn literal(&mut self) -> Result<Literal, FieldError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.next();
                Ok(Literal::Str(s))
            }
            Tok::Num(n) => {
                self.next();
                Ok(Literal::Num(n))
            }
            Tok::Word(w) if w == "true" || w == "false" => {
                self.next();
                Ok(Literal::Bool(w == "true"))
            }
            _ => Err(self.expected("a value (a \"string\", a number, true or false)")),
        }
    }

    fn op(&mut self) -> Result<CmpOp, FieldError> {
        let op = match self.peek() {
            Tok::Op("=") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::Ne,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            _ => return Err(self.expected("a comparison (=, !=, <, <=, >, >=), in, exists or has")),
        };
        self.next();
        Ok(op)
    }

    fn count(&mut self) -> Result<u32, FieldError> {
        match self.peek().clone() {
            Tok::Num(n) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => {
                self.next();
                Ok(n as u32)
            }
            _ => Err(self.expected("a whole number")),
        }
    }

    fn date(&mut self) -> Result<Date, FieldError> {
        match self.peek().clone() {
            Tok::Str(s) => match s.parse::<Date>() {
                Ok(d) => {
                    self.next();
                    Ok(d)
                }
                Err(_) => Err(self.expected("a date such as 2026-01-31")),
            },
            _ => Err(self.expected("a date such as 2026-01-31")),
        }
    }

    fn condition(&mut self) -> Result<Condition, FieldError> {
        if self.eat_word("did") {
            return self.did();
        }
        if self.eat_word("consent") {
            let channel = match self.peek() {
                Tok::Word(w) => Channel::parse("definition", w).ok(),
                _ => None,
            }
            .ok_or_else(|| self.expected("a channel (email, sms or push)"))?;
            self.next();
            let topic = if self.eat_word("topic") {
                let topic = match self.peek() {
                    Tok::Str(t) => Topic::parse("definition", t).ok().map(|t| t.as_str().to_owned()),
                    _ => None,
                }
                .ok_or_else(|| self.expected("a topic in quotes, such as \"newsletter\""))?;
                self.next();
                Some(topic)
            } else {
                None
            };
            let opted_in = match self.peek() {
                Tok::Word(w) if w == "opted_in" => true,
                Tok::Word(w) if w == "opted_out" => false,
                _ => return Err(self.expected("opted_in or opted_out")),
            };
            self.next();
            return Ok(Condition::Consent { channel, topic, opted_in });
        }
        if self.eat_word("authorized") {
            self.word("for")?;
            self.word("marketing")?;
            return Ok(Condition::Authorized);
        }
        let field = self.name("a trait name, did, consent, authorized, not or (")?;
        if self.eat_word("exists") {
            return Ok(Condition::Exists { field });
        }
        if self.eat_word("has") {
            return match self.peek().clone() {
                Tok::Str(code) => {
                    self.next();
                    Ok(Condition::Has { field, code })
                }
                _ => Err(self.expected("a code in quotes, such as \"condition:457\"")),
            };
        }
        if self.eat_word("in") {
            self.punct(Tok::LBracket, "[")?;
            let mut values = vec![self.literal()?];
            while *self.peek() == Tok::Comma {
                self.next();
                values.push(self.literal()?);
            }
            self.punct(Tok::RBracket, ", or ]")?;
            return Ok(Condition::In { field, values });
        }
        let op = self.op()?;
        Ok(Condition::Compare { field, op, value: self.literal()? })
    }

    fn did(&mut self) -> Result<Condition, FieldError> {
        let event = self.name("an event name")?;
        let (mut filter, mut count, mut window) = (None, None, None);
        loop {
            if filter.is_none() && self.eat_word("where") {
                let prop = self.name("an event property")?;
                let op = self.op()?;
                filter = Some((prop, op, self.literal()?));
            } else if window.is_none() && self.eat_word("within") {
                let days = self.count()?;
                self.word("days")?;
                window = Some(EventWindow::WithinDays(days));
            } else if window.is_none() && self.eat_word("between") {
                let from = self.date()?;
                self.word("and")?;
                let to = self.date()?;
                window = Some(EventWindow::Between(from, to));
            } else if count.is_none() && (self.is_word("at") || self.is_word("exactly")) {
                let op = if self.eat_word("exactly") {
                    CountOp::Exactly
                } else {
                    self.word("at")?;
                    if self.eat_word("least") {
                        CountOp::AtLeast
                    } else if self.eat_word("most") {
                        CountOp::AtMost
                    } else {
                        return Err(self.expected("least or most"));
                    }
                };
                let n = self.count()?;
                if !self.eat_word("times") && !self.eat_word("time") {
                    return Err(self.expected("times"));
                }
                count = Some((op, n));
            } else {
                break;
            }
        }
        Ok(Condition::Did { event, filter, count, window })
    }
}
