//! `Phi<T>`: a wrapper for protected values whose `Debug` and `Display` never show the value.

use std::fmt;

/// A value that is protected health information or an identifier.
///
/// Formatting it prints `[redacted]`, so it cannot reach a log line, a span or an error body
/// by accident; code that truly needs the value calls [`Phi::expose`] and is easy to review.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Phi<T>(T);

impl<T> Phi<T> {
    /// Wraps a protected value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the protected value; every call site is a place where PHI is handled.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the protected value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Phi::new(String::from("jane@example.org"));
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "jane@example.org");
    }
}
