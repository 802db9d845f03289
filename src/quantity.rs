//! Kubernetes resource quantities (`100m`, `1Gi`, `2.5`, `1e3`), read as the API server reads them:
//! enough to tell whether a string is one, and to compare two exactly.
//!
//! The grammar is apimachinery's `ParseQuantity`, after the JSON decoder's trimming of white space:
//! an optional sign, digits with an optional fraction, then a suffix, which is a decimal SI one
//! (`n u m k M G T P E`, or none), a binary one (`Ki Mi Gi Ti Pi Ei`) or an exponent (`e3`, `E-2`).
//! The API server rounds every value but zero up to a whole number of nano units, away from zero,
//! and so does [`Quantity::parse`], so that `1.5n` compares as it does there. The value is kept as
//! decimal digits and a power of ten, so that no quantity overflows.

use std::cmp::Ordering;
use std::fmt;

/// A parsed quantity: `±digits × 10^exponent`, `digits` without leading or trailing zeros (empty
/// for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

/// Why a string is not a quantity, in the API server's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    /// `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`
    Format,
    /// `unable to parse quantity's suffix`
    Suffix,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Format => "not a Kubernetes quantity (a number with an optional suffix, such as 100m, 1.5, 2Gi or 1e3)",
            Self::Suffix => "not a Kubernetes quantity: its suffix is none of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3",
        })
    }
}

/// The smallest unit the API server keeps: nano, 10^-9.
const NANO: i64 = -9;

impl Quantity {
    /// Reads a quantity as the API server reads one from JSON (a string, or the text of a number).
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let text = text.trim_matches(char::is_whitespace);
        if text.is_empty() {
            return Err(QuantityError::Format);
        }
        let bytes = text.as_bytes();
        let mut at = 0;
        let negative = bytes.first() == Some(&b'-');
        if matches!(bytes.first(), Some(b'-' | b'+')) {
            at += 1;
        }
        let digits_from = |at: usize| {
            bytes
                .get(at..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let whole = at..at + digits_from(at);
        at = whole.end;
        let mut fraction = at..at;
        if bytes.get(at) == Some(&b'.') {
            fraction = at + 1..at + 1 + digits_from(at + 1);
            at = fraction.end;
        }
        // The suffix: letters of the set, then an optional sign and digits (an exponent's).
        let suffix_start = at;
        at += bytes
            .get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b"eEinumkKMGTP".contains(b))
            .count();
        if matches!(bytes.get(at), Some(b'-' | b'+')) {
            at += 1;
        }
        at += digits_from(at);
        if at != bytes.len() {
            return Err(QuantityError::Format);
        }
        let suffix = text.get(suffix_start..).unwrap_or_default();
        let (ten, two) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 1),
            "Mi" => (0, 2),
            "Gi" => (0, 3),
            "Ti" => (0, 4),
            "Pi" => (0, 5),
            "Ei" => (0, 6),
            _ => match suffix.strip_prefix(['e', 'E']).map(str::parse::<i32>) {
                Some(Ok(exponent)) => (i64::from(exponent), 0),
                _ => return Err(QuantityError::Suffix),
            },
        };
        let mut digits: Vec<u8> = text
            .get(whole.clone())
            .unwrap_or_default()
            .bytes()
            .chain(text.get(fraction.clone()).unwrap_or_default().bytes())
            .map(|b| b - b'0')
            .collect();
        let mut exponent = ten - i64::try_from(fraction.len()).unwrap_or(i64::MAX);
        for _ in 0..two {
            multiply(&mut digits, 1024);
        }
        let mut quantity = Self {
            negative,
            digits,
            exponent,
        };
        quantity.normalize();
        // Rounded up to a whole number of nano units, away from zero.
        if quantity.exponent < NANO && !quantity.digits.is_empty() {
            let keep = quantity.digits.len() as i64 - (NANO - quantity.exponent);
            let mut kept: Vec<u8> = if keep > 0 {
                quantity.digits.truncate(keep as usize);
                std::mem::take(&mut quantity.digits)
            } else {
                Vec::new()
            };
            add_one(&mut kept);
            quantity.digits = kept;
            exponent = NANO;
            quantity.exponent = exponent;
            quantity.normalize();
        }
        Ok(quantity)
    }

    pub fn is_negative(&self) -> bool {
        self.negative && !self.digits.is_empty()
    }

    /// Strips leading and trailing zeros; zero has no digits and no sign.
    fn normalize(&mut self) {
        let leading = self.digits.iter().take_while(|d| **d == 0).count();
        self.digits.drain(..leading);
        while self.digits.last() == Some(&0) {
            self.digits.pop();
            self.exponent += 1;
        }
        if self.digits.is_empty() {
            self.negative = false;
            self.exponent = 0;
        }
    }

    /// The order of the magnitudes alone.
    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // The power of ten of the first digit decides, then the digits from the first.
        let top = |q: &Self| q.exponent + q.digits.len() as i64;
        top(self).cmp(&top(other)).then_with(|| {
            let length = self.digits.len().max(other.digits.len());
            let digit = |q: &Self, i: usize| q.digits.get(i).copied().unwrap_or(0);
            (0..length)
                .map(|i| digit(self, i).cmp(&digit(other, i)))
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `digits *= factor`, digits most significant first.
fn multiply(digits: &mut Vec<u8>, factor: u32) {
    let mut carry = 0u32;
    for digit in digits.iter_mut().rev() {
        let product = u32::from(*digit) * factor + carry;
        *digit = (product % 10) as u8;
        carry = product / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

/// `digits += 1`, digits most significant first.
fn add_one(digits: &mut Vec<u8>) {
    for digit in digits.iter_mut().rev() {
        if *digit < 9 {
            *digit += 1;
            return;
        }
        *digit = 0;
    }
    digits.insert(0, 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[rstest]
    #[case::plain("100m", "0.1")]
    #[case::integer("2", "2000m")]
    #[case::decimal_fraction("1.5", "1500m")]
    #[case::binary("1Ki", "1024")]
    #[case::binary_large("1Gi", "1073741824")]
    #[case::binary_fraction("1.5Gi", "1536Mi")]
    #[case::exponent("1e3", "1k")]
    #[case::capital_exponent("1E3", "1000")]
    #[case::negative_exponent("15e-1", "1.5")]
    #[case::exa("1E", "1e18")]
    #[case::leading_zeros("007", "7")]
    #[case::fraction_only(".5", "500m")]
    #[case::trailing_dot("1.", "1")]
    #[case::plus("+3", "3")]
    #[case::white_space_trimmed(" 100m\n", "100m")]
    #[case::rounded_up_to_nano("0.5n", "1n")]
    #[case::rounded_up_at_nano("1.1n", "2n")]
    #[case::zeros("0", "0.000")]
    #[case::negative_zero("-0", "0")]
    fn equal_quantities(#[case] a: &str, #[case] b: &str) {
        assert_eq!(q(a).cmp(&q(b)), Ordering::Equal, "{a} = {b}");
    }

    #[rstest]
    #[case("100m", "1")]
    #[case("999m", "1")]
    #[case("1G", "1Gi")]
    #[case("1023", "1Ki")]
    #[case("-1", "0")]
    #[case("-2", "-1")]
    #[case("1n", "1.000000001")]
    #[case("128Mi", "1Gi")]
    #[case("1e-9", "2n")]
    #[case("99999999999999999999999", "1e23")]
    fn ordered_quantities(#[case] less: &str, #[case] more: &str) {
        assert_eq!(q(less).cmp(&q(more)), Ordering::Less, "{less} < {more}");
        assert_eq!(q(more).cmp(&q(less)), Ordering::Greater, "{more} > {less}");
    }

    #[rstest]
    #[case::empty("", QuantityError::Format)]
    #[case::space_inside("100 m", QuantityError::Format)]
    #[case::word("lots", QuantityError::Format)]
    #[case::unknown_suffix("1G2", QuantityError::Suffix)]
    #[case::lower_k_binary("1ki", QuantityError::Suffix)]
    #[case::two_suffixes("1mm", QuantityError::Suffix)]
    #[case::bare_exponent("1e", QuantityError::Suffix)]
    #[case::unit("1cores", QuantityError::Format)]
    #[case::two_dots("1.2.3", QuantityError::Format)]
    #[case::bytes("1GB", QuantityError::Format)]
    fn not_quantities(#[case] text: &str, #[case] error: QuantityError) {
        assert_eq!(Quantity::parse(text), Err(error), "{text}");
    }

    #[test]
    fn negative_quantities_say_so() {
        assert!(q("-1m").is_negative());
        assert!(!q("-0").is_negative());
        assert!(!q("1m").is_negative());
    }
}
