//! The scanner: where strings, objects and arrays begin and end in a JSON text's bytes, eight
//! bytes at a time where it pays. Everything here takes bytes and positions, and finds nothing
//! (rather than panicking or looping) in what is not JSON.

use std::borrow::Cow;
use std::ops::Range;

/// The string JSON `text` holds, unescaped only when it has escapes.
pub(super) fn string(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

pub(super) fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

/// The end of the string starting at `at` (a quote), after its closing quote, and whether it has
/// escapes.
pub(super) fn skip_string(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = at + 1;
    loop {
        i = quote_or_backslash(bytes, i)?;
        match bytes.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            _ => {
                escaped = true;
                i += 2;
            }
        }
    }
}

/// What one pass over a string's bytes finds: where it ends (after its closing quote), and
/// whether it has escapes, control characters (which JSON allows only escaped) or a `{`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StringScan {
    pub(super) end: usize,
    pub(super) escaped: bool,
    pub(super) control: bool,
    pub(super) brace: bool,
}

/// Scans the string whose opening quote is at `at`, eight bytes at a time: [`skip_string`], the
/// control characters and the braces found in the same pass. The byte after each `\` is stepped
/// over unexamined.
pub(super) fn scan_string(bytes: &[u8], at: usize) -> Option<StringScan> {
    let mut scan = StringScan {
        end: 0,
        escaped: false,
        control: false,
        brace: false,
    };
    let mut i = at + 1;
    loop {
        // Of each flag word, the lowest flagged byte is exact, and any flag is at or above a true
        // match (borrows only run towards higher bytes): a flag below the stop means a match there.
        let stop = loop {
            let Some(word) = word_at(bytes, i) else {
                let rest = bytes.get(i..)?;
                let length = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
                let before = rest.get(..length)?;
                scan.control |= before.iter().any(|&b| b < 0x20);
                scan.brace |= before.contains(&b'{');
                break i + length;
            };
            let stops = has_byte(word, b'"') | has_byte(word, b'\\');
            let below = if stops == 0 {
                u64::MAX
            } else {
                (1u64 << (stops.trailing_zeros() & !7)) - 1
            };
            scan.control |= below_space(word) & below != 0;
            scan.brace |= has_byte(word, b'{') & below != 0;
            if stops != 0 {
                break i + (stops.trailing_zeros() / 8) as usize;
            }
            i += 8;
        };
        if *bytes.get(stop)? == b'"' {
            scan.end = stop + 1;
            return Some(scan);
        }
        scan.escaped = true;
        i = stop + 2;
    }
}

/// Whether `haystack` holds `needle`, or a `\\`: one pass, eight bytes at a time, looking at the
/// places where the needle's first byte or a backslash is (str::contains would bring a searcher the
/// module has no other use for, and looks twice).
pub(super) fn has_or_escape(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let found_at = |at: usize| match haystack.get(at..) {
        Some([b'\\', ..]) => true,
        Some(rest) => rest.starts_with(needle),
        None => false,
    };
    let mut i = 0;
    while let Some(word) = word_at(haystack, i) {
        // Flags may be set above a true match (borrows): each place is checked.
        let mut flags = has_byte(word, first) | has_byte(word, b'\\');
        while flags != 0 {
            if found_at(i + (flags.trailing_zeros() / 8) as usize) {
                return true;
            }
            flags &= flags - 1;
        }
        i += 8;
    }
    (i..haystack.len()).any(found_at)
}

/// The eight bytes at `at`, as one word (the first in its lowest byte); `None` when fewer are left.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is `byte` set (and maybe of bytes above one that is).
fn has_byte(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The high bit of each byte of `word` below 0x20 set (and maybe of bytes above one that is).
fn below_space(word: u64) -> u64 {
    word.wrapping_sub(ONES * 0x20) & !word & HIGHS
}

/// The first `"` or `\` at or after `from`. Most of a JSON text is inside strings, so this looks
/// at eight bytes at a time (the module is built without SIMD; 64-bit integers are native to it).
fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = word_at(bytes, i) {
        let found = has_byte(word, b'"') | has_byte(word, b'\\');
        if found != 0 {
            // The lowest flagged byte is the first match: borrows only run towards higher bytes.
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|position| i + position)
}

/// Where every object and array of `bytes` starts and ends (after its closing bracket), in the
/// order they start: one pass, strings stepped over whole.
pub(super) fn index(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut ends = Vec::new();
    let mut open = Vec::new();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => match skip_string(bytes, i) {
                Some((end, _)) => {
                    i = end;
                    continue;
                }
                None => break,
            },
            b'{' | b'[' => {
                open.push(ends.len());
                ends.push((i, usize::MAX));
            }
            b'}' | b']' => {
                if let Some((_, end)) = open.pop().and_then(|at| ends.get_mut(at)) {
                    *end = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    ends
}

/// The index made by [`index`], searched by where a value starts.
pub(super) struct Ends<'i>(pub(super) &'i [(usize, usize)]);

impl Ends<'_> {
    pub(super) fn of(&self, start: usize) -> Option<usize> {
        let at = self.0.binary_search_by_key(&start, |&(s, _)| s).ok()?;
        self.0
            .get(at)
            .map(|&(_, end)| end)
            .filter(|&end| end != usize::MAX)
    }
}

/// The end of the value starting at `at` (no whitespace before it).
fn skip_value(bytes: &[u8], ends: &Ends, at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => skip_string(bytes, at).map(|(end, _)| end),
        b'{' | b'[' => ends.of(at),
        _ => {
            let mut i = at;
            while let Some(b) = bytes.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

/// Each entry of the object at `range`: its key's range (without quotes), whether the key has
/// escapes, and its value's range.
type ObjectEntries = Vec<(Range<usize>, bool, Range<usize>)>;

pub(super) fn scan_object(bytes: &[u8], ends: &Ends, range: Range<usize>) -> Option<ObjectEntries> {
    let mut entries = Vec::new();
    let mut at = skip_whitespace(bytes, range.start + 1);
    if bytes.get(at)? == &b'}' {
        return Some(entries);
    }
    loop {
        let (key_end, escaped) = skip_string(bytes, at)?;
        let key = at + 1..key_end - 1;
        at = skip_whitespace(bytes, key_end);
        (bytes.get(at)? == &b':').then_some(())?;
        at = skip_whitespace(bytes, at + 1);
        let end = skip_value(bytes, ends, at)?;
        entries.push((key, escaped, at..end));
        at = skip_whitespace(bytes, end);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            b'}' if at < range.end => return Some(entries),
            _ => return None,
        }
    }
}

pub(super) fn scan_array(
    bytes: &[u8],
    ends: &Ends,
    range: Range<usize>,
) -> Option<Vec<Range<usize>>> {
    let mut items = Vec::new();
    let mut at = skip_whitespace(bytes, range.start + 1);
    if bytes.get(at)? == &b']' {
        return Some(items);
    }
    loop {
        let end = skip_value(bytes, ends, at)?;
        items.push(at..end);
        at = skip_whitespace(bytes, end);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            b']' if at < range.end => return Some(items),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_for_a_text_or_an_escape_finds_both_anywhere() {
        let naive = |haystack: &[u8], needle: &[u8]| {
            needle.is_empty()
                || haystack.windows(needle.len()).any(|w| w == needle)
                || haystack.contains(&b'\\')
        };
        // Every place around the eight-byte words, needles that begin alike, near misses.
        for length in 0..24 {
            for at in 0..=length {
                for (mark, needle) in [
                    ("AGENT", "AGENT"),
                    ("AGEN", "AGENT"),
                    ("AAGENT", "AGENT"),
                    ("\\", "AGENT"),
                    ("x", ""),
                    ("é", "é"),
                    ("\u{0}", "\u{1}"),
                ] {
                    let haystack = format!("{}{mark}{}", "a".repeat(at), "b".repeat(length - at));
                    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
                    assert_eq!(
                        has_or_escape(haystack, needle),
                        naive(haystack, needle),
                        "{haystack:?} {needle:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_string_scan_finds_what_is_before_its_end_only() {
        // Every length around the eight-byte words, with the mark at every place in the string.
        for length in 0..20 {
            for at in 0..=length {
                for (mark, control, brace, escaped) in [
                    ("\u{1}", true, false, false),
                    ("{", false, true, false),
                    ("\\n", false, false, true),
                    ("\\\"", false, false, true),
                    ("é", false, false, false),
                ] {
                    let inner = format!("{}{mark}{}", "a".repeat(at), "b".repeat(length - at));
                    // After the string: all the marks, which must not count.
                    let text = format!("\"{inner}\"\u{1}{{\\\"");
                    let scan = scan_string(text.as_bytes(), 0).unwrap();
                    let expected = StringScan {
                        end: inner.len() + 2,
                        escaped,
                        control,
                        brace,
                    };
                    assert_eq!(scan, expected, "{text:?}");
                    assert_eq!(skip_string(text.as_bytes(), 0), Some((scan.end, escaped)));
                }
            }
        }
        assert_eq!(scan_string(br#""abc\"#, 0), None);
        assert_eq!(scan_string(br#""abcdefghijkl"#, 0), None);
    }

    #[test]
    fn strings_end_at_their_closing_quote_whatever_their_length() {
        for length in 0usize..40 {
            for escape in [
                None,
                Some(0),
                Some(length / 2),
                Some(length.saturating_sub(1)),
            ] {
                let mut content = "x".repeat(length);
                if let Some(at) = escape.filter(|&at| at < length) {
                    content.replace_range(at..=at, "\\\"");
                }
                let text = format!("\"{content}\" , \"next\"");
                let (end, escaped) = skip_string(text.as_bytes(), 0).unwrap();
                assert_eq!(&text[..end], format!("\"{content}\""), "{text}");
                assert_eq!(escaped, content.contains('\\'), "{text}");
            }
        }
        assert_eq!(skip_string(b"\"unterminated", 0), None);
        assert_eq!(skip_string(b"\"ends in an escape\\", 0), None);
    }
}
