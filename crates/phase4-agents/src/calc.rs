//! `calc`: arithmetic an agent may ask for, parsed and evaluated here — never by running code.
//!
//! The grammar (a recursive-descent parser, one function per precedence level):
//!
//! ```text
//! expr   := term (('+' | '-') term)*
//! term   := unary (('*' | '/') unary)*
//! unary  := '-' unary | atom
//! atom   := number | '(' expr ')'
//! number := digits ('.' digits)?
//! ```
//!
//! What a hostile or confused model may send is an error with a message the agent can read, never
//! a panic or a hang: input longer than [`MAX_LEN`] characters, nesting deeper than [`MAX_DEPTH`],
//! numbers longer than [`MAX_DIGITS`] digits, results beyond ±[`MAX_ABS`], division by zero, and
//! any character outside the grammar (non-ASCII included).

use std::fmt;

/// Longest expression accepted, in characters.
pub const MAX_LEN: usize = 200;
/// Deepest nesting of parentheses and unary minus.
pub const MAX_DEPTH: usize = 32;
/// Longest number, in digits.
pub const MAX_DIGITS: usize = 15;
/// Largest magnitude of any intermediate result (beyond it, f64 no longer holds every integer).
pub const MAX_ABS: f64 = 1e15;

/// Why an expression has no value.
#[derive(Clone, Debug, PartialEq)]
pub struct CalcError(pub String);

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CalcError {}

fn err<T>(msg: impl Into<String>) -> Result<T, CalcError> {
    Err(CalcError(msg.into()))
}

/// The value of `input`.
pub fn eval(input: &str) -> Result<f64, CalcError> {
    if input.chars().count() > MAX_LEN {
        return err(format!(
            "the expression is longer than {MAX_LEN} characters"
        ));
    }
    if let Some(c) = input
        .chars()
        .find(|c| !(c.is_ascii_digit() || " \t+-*/().".contains(*c)))
    {
        return err(format!(
            "`{c}` is not arithmetic: use digits, + - * / and parentheses"
        ));
    }
    let mut p = Parser {
        s: input.as_bytes(),
        at: 0,
        depth: 0,
    };
    p.skip_space();
    if p.at == p.s.len() {
        return err("the expression is empty");
    }
    let v = p.expr()?;
    p.skip_space();
    if p.at < p.s.len() {
        return err(format!(
            "unexpected `{}` at position {}",
            p.s[p.at] as char,
            p.at + 1
        ));
    }
    Ok(v)
}

/// `value` as an agent reads it: an integer without a decimal point, otherwise at most 6 decimals
/// with trailing zeros dropped.
pub fn format(value: f64) -> String {
    if value.fract() == 0.0 {
        return format!("{}", value as i64);
    }
    let s = format!("{value:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.s.len() && (self.s[self.at] == b' ' || self.s[self.at] == b'\t') {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.s.get(self.at).copied()
    }

    fn checked(v: f64) -> Result<f64, CalcError> {
        if !v.is_finite() || v.abs() > MAX_ABS {
            return err(format!("a result is larger than {MAX_ABS:e}"));
        }
        Ok(v)
    }

    fn expr(&mut self) -> Result<f64, CalcError> {
        let mut v = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.at += 1;
            let r = self.term()?;
            v = Self::checked(if op == b'+' { v + r } else { v - r })?;
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<f64, CalcError> {
        let mut v = self.unary()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.at += 1;
            let r = self.unary()?;
            v = if op == b'*' {
                Self::checked(v * r)?
            } else if r == 0.0 {
                return err("division by zero");
            } else {
                Self::checked(v / r)?
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, CalcError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let v = if self.peek() == Some(b'-') {
            self.at += 1;
            -self.unary()?
        } else {
            self.atom()?
        };
        self.depth -= 1;
        Ok(v)
    }

    fn atom(&mut self) -> Result<f64, CalcError> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return err("a `(` is not closed");
                }
                self.at += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() => self.number(),
            Some(c) => err(format!(
                "expected a number or `(` at position {}, found `{}`",
                self.at + 1,
                c as char
            )),
            None => err("the expression ends where a number was expected"),
        }
    }

    fn number(&mut self) -> Result<f64, CalcError> {
        let start = self.at;
        let mut digits = 0;
        let mut point = false;
        while let Some(&c) = self.s.get(self.at) {
            if c.is_ascii_digit() {
                digits += 1;
            } else if c == b'.' && !point {
                point = true;
            } else {
                break;
            }
            self.at += 1;
        }
        if digits > MAX_DIGITS {
            return err(format!("a number has more than {MAX_DIGITS} digits"));
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).expect("ASCII");
        if text.ends_with('.') {
            return err(format!("`{text}` has no digits after its point"));
        }
        text.parse::<f64>()
            .map_err(|e| CalcError(format!("`{text}` is not a number: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        format(eval(s).unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    fn bad(s: &str) -> String {
        eval(s).expect_err(s).0
    }

    #[test]
    fn m10_calc_follows_precedence_and_associativity() {
        assert_eq!(ok("2024 - 1961"), "63");
        assert_eq!(ok("1 + 2 * 3"), "7");
        assert_eq!(ok("(1 + 2) * 3"), "9");
        assert_eq!(ok("10 - 4 - 3"), "3");
        assert_eq!(ok("48 / 4 / 2"), "6");
        assert_eq!(ok("-3 - -4"), "1");
        assert_eq!(ok("7 / 2"), "3.5");
        assert_eq!(ok("1 / 3"), "0.333333");
        assert_eq!(ok("  12  "), "12");
        assert_eq!(ok("2.5 * 4"), "10");
        assert_eq!(ok("1987-1969"), "18");
    }

    #[test]
    fn m10_calc_refuses_hostile_input_with_a_message() {
        assert!(bad("1 / 0").contains("division by zero"));
        assert!(bad("1 / (2 - 2)").contains("division by zero"));
        assert!(bad("").contains("empty"));
        assert!(bad("   ").contains("empty"));
        assert!(bad("2 +").contains("ends"));
        assert!(bad("(1 + 2").contains("not closed"));
        assert!(bad("1 + 2)").contains("unexpected"));
        assert!(bad("1 2").contains("unexpected"));
        assert!(bad("* 3").contains("expected a number"));
        assert!(bad("1..2").contains("unexpected") || bad("1..2").contains("point"));
        assert!(bad("3.").contains("no digits after"));
        // Code, names and non-ASCII are not arithmetic.
        assert!(bad("__import__('os')").contains("not arithmetic"));
        assert!(bad("2 ** 10").contains("expected a number"));
        assert!(bad("１ + 1").contains("not arithmetic"));
        assert!(bad("1e9").contains("not arithmetic"));
        assert!(bad("1 + x").contains("not arithmetic"));
        // Huge numbers and results.
        assert!(bad(&"9".repeat(16)).contains("digits"));
        assert!(bad("999999999999999 * 999999999999999").contains("larger"));
        assert_eq!(ok(&"9".repeat(15)), "999999999999999");
        // Deep nesting and long input are refused before any work.
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(bad(&deep).contains("longer") || bad(&deep).contains("nested"));
        let nested = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert!(bad(&nested).contains("nested"));
        assert!(bad(&"-".repeat(60)).contains("nested") || bad(&"-".repeat(60)).contains("ends"));
        assert!(bad(&"1+".repeat(150)).contains("longer"));
        let fits = format!("{}1{}", "(".repeat(30), ")".repeat(30));
        assert_eq!(ok(&fits), "1");
    }
}
