//! The payment PIN's policy: six digits, and none of the PINs everyone guesses first.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PinError {
    /// Not exactly six digits.
    Syntax,
    /// One digit repeated, a run (123456, 987654) or a repeated pattern (121212, 123123).
    TooSimple,
}

impl PinError {
    pub fn code(self) -> &'static str {
        match self {
            PinError::Syntax => "pin_syntax",
            PinError::TooSimple => "pin_too_simple",
        }
    }
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinError::Syntax => "the payment PIN has exactly 6 digits",
            PinError::TooSimple => "this PIN is too easy to guess (repeated digits, a run like 123456, or a pattern like 121212)",
        })
    }
}

impl std::error::Error for PinError {}

/// Checks a new PIN against the policy.
pub fn check_new_pin(pin: &str) -> Result<(), PinError> {
    if !is_pin_shaped(pin) {
        return Err(PinError::Syntax);
    }
    let digits: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let steps: Vec<i8> = digits.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let run = steps
        .iter()
        .all(|&step| step == steps[0] && step.abs() <= 1);
    let periodic = |period: usize| {
        digits
            .iter()
            .enumerate()
            .all(|(i, digit)| *digit == digits[i % period])
    };
    if run || periodic(2) || periodic(3) {
        return Err(PinError::TooSimple);
    }
    Ok(())
}

/// Only the shape of a PIN presented for payment (six digits); policy applies when setting.
pub fn is_pin_shaped(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_trivial_pins() {
        for pin in [
            "111111", "000000", "123456", "654321", "012345", "987654", "121212", "123123",
            "909090",
        ] {
            assert_eq!(check_new_pin(pin), Err(PinError::TooSimple), "{pin}");
        }
        for pin in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert_eq!(check_new_pin(pin), Err(PinError::Syntax), "{pin}");
        }
        for pin in ["135790", "202611", "482916", "112233"] {
            assert_eq!(check_new_pin(pin), Ok(()), "{pin}");
        }
    }
}
