//! Codes: drawn from the OS CSPRNG in the policy's format, shown grouped, typed back with
//! spaces or dashes, and held in memory that is zeroed on drop.

use crate::Error;
use sparekey_conf::{Alphabet, CodeFormat};
use zeroize::Zeroizing;

/// A code as the user typed it or as it was generated, normalised: no spaces or dashes,
/// letters upper-cased. Zeroed when dropped; never logged.
pub struct Code(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(..)")
    }
}

/// The longest input taken as a code; longer input is refused without being hashed.
pub const MAX_INPUT: usize = 256;

/// Why an answer is not a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeInputError {
    /// Nothing but spaces, tabs and dashes (or nothing at all).
    Empty,
    /// Longer than [`MAX_INPUT`] bytes: this many.
    TooLong(usize),
}

impl std::fmt::Display for CodeInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeInputError::Empty => f.write_str("the answer is empty"),
            CodeInputError::TooLong(n) => write!(
                f,
                "the answer is {n} bytes long, longer than any code (at most {MAX_INPUT})"
            ),
        }
    }
}

impl Code {
    /// Draws a new code of `format` with rejection sampling, so every character is uniform.
    pub fn generate(format: &CodeFormat) -> Result<Self, Error> {
        let alphabet = format.alphabet.chars();
        let n = alphabet.len();
        // The largest multiple of n that fits a byte: bytes at or above it are redrawn.
        let limit = 256 - (256 % n);
        let length = *format.length.get_ref();
        let mut out = Zeroizing::new(Vec::with_capacity(length));
        let mut pool = Zeroizing::new([0u8; 64]);
        while out.len() < length {
            getrandom::fill(&mut pool[..]).map_err(|e| Error::Randomness(e.to_string()))?;
            for &b in pool.iter() {
                if usize::from(b) < limit && out.len() < length {
                    out.push(alphabet[usize::from(b) % n]);
                }
            }
        }
        Ok(Code(out))
    }

    /// Takes what a person typed: spaces, tabs and dashes are dropped and letters
    /// upper-cased. An answer of nothing but those is empty (the person skipped the prompt),
    /// one over [`MAX_INPUT`] bytes too long. The input is not kept.
    pub fn from_input(input: &[u8]) -> Result<Self, CodeInputError> {
        let separator = |b: &u8| matches!(b, b' ' | b'\t' | b'-');
        if input.iter().all(separator) {
            return Err(CodeInputError::Empty);
        }
        if input.len() > MAX_INPUT {
            return Err(CodeInputError::TooLong(input.len()));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(input.len()));
        out.extend(
            input
                .iter()
                .filter(|b| !separator(b))
                .map(u8::to_ascii_uppercase),
        );
        Ok(Code(out))
    }

    /// The normalised bytes, for hashing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The code for showing once to the issuer: groups of five joined by dashes.
    pub fn display(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.0.len() + self.0.len() / 5));
        for (i, &b) in self.0.iter().enumerate() {
            if i > 0 && i % 5 == 0 {
                s.push('-');
            }
            s.push(char::from(b));
        }
        s
    }

    /// Whether every character is in `alphabet` (used to check a fixed passcode).
    pub fn fits(&self, alphabet: Alphabet) -> bool {
        self.0.iter().all(|b| alphabet.chars().contains(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparekey_conf::Spanned;

    fn format(length: usize, alphabet: Alphabet) -> CodeFormat {
        CodeFormat {
            length: Spanned::new(0..0, length),
            alphabet,
        }
    }

    #[test]
    fn default_code_is_ten_digits() {
        let c = Code::generate(&CodeFormat::default()).unwrap();
        assert_eq!(c.as_bytes().len(), 10);
        assert!(c.fits(Alphabet::Digits));
    }

    #[test]
    fn alphabet_and_length_follow_policy() {
        let c = Code::generate(&format(16, Alphabet::Alphanumeric)).unwrap();
        assert_eq!(c.as_bytes().len(), 16);
        assert!(c.fits(Alphabet::Alphanumeric));
    }

    #[test]
    fn digits_are_roughly_uniform() {
        let mut counts = [0u32; 10];
        for _ in 0..2000 {
            for &b in Code::generate(&CodeFormat::default()).unwrap().as_bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        // 20,000 draws: each digit expected 2,000; 6 sigma is about 255.
        for (d, n) in counts.iter().enumerate() {
            assert!(
                (1700..2300).contains(n),
                "digit {d} drawn {n} times: {counts:?}"
            );
        }
    }

    #[test]
    fn input_accepts_spaces_and_dashes_and_case() {
        let shown = Code::from_input(b"12345-67890").unwrap();
        assert_eq!(shown.as_bytes(), b"1234567890");
        assert_eq!(
            Code::from_input(b" 12345 67890\t").unwrap().as_bytes(),
            b"1234567890"
        );
        assert_eq!(Code::from_input(b"abc-def").unwrap().as_bytes(), b"ABCDEF");
        assert_eq!(Code::from_input(b"").unwrap_err(), CodeInputError::Empty);
        assert_eq!(Code::from_input(b" - ").unwrap_err(), CodeInputError::Empty);
        assert_eq!(
            Code::from_input(&[b'1'; MAX_INPUT + 1]).unwrap_err(),
            CodeInputError::TooLong(MAX_INPUT + 1)
        );
        assert_eq!(
            Code::from_input(&[b' '; MAX_INPUT + 1]).unwrap_err(),
            CodeInputError::Empty,
            "a long run of spaces is still an empty answer"
        );
    }

    #[test]
    fn display_groups_by_five_and_reads_back() {
        let c = Code::from_input(b"1234567890").unwrap();
        assert_eq!(c.display().as_str(), "12345-67890");
        let back = Code::from_input(c.display().as_bytes()).unwrap();
        assert_eq!(back.as_bytes(), c.as_bytes());
    }

    #[test]
    fn debug_never_shows_the_code() {
        let c = Code::from_input(b"1234567890").unwrap();
        assert_eq!(format!("{c:?}"), "Code(..)");
    }
}
