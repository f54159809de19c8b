//! Comparing the name on a card with the verified real name.

/// Whether two personal names are the same person's: case, spacing and the order of Latin
/// name parts do not matter (`SMITH JOHN` = `John Smith`); Chinese names compare exactly
/// (spaces aside).
pub fn names_match(a: &str, b: &str) -> bool {
    let is_cjk =
        |c: char| ('\u{2E80}'..='\u{9FFF}').contains(&c) || ('\u{F900}'..='\u{FAFF}').contains(&c);
    if a.chars().chain(b.chars()).any(is_cjk) {
        let squeeze = |name: &str| {
            name.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
        };
        let (a, b) = (squeeze(a), squeeze(b));
        return !a.is_empty() && a == b;
    }
    let parts = |name: &str| {
        let mut parts: Vec<String> = name
            .split(|c: char| c.is_whitespace() || c == ',' || c == '.' || c == '·')
            .filter(|part| !part.is_empty())
            .map(str::to_uppercase)
            .collect();
        parts.sort();
        parts
    };
    let (a, b) = (parts(a), parts(b));
    !a.is_empty() && a == b
}

/// A name worth storing: 1 to 64 characters, letters, spaces, and the punctuation names use.
pub fn is_plausible_name(name: &str) -> bool {
    let name = name.trim();
    let length = name.chars().count();
    (1..=64).contains(&length)
        && name.chars().any(char::is_alphabetic)
        && name
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'' || c == '.' || c == '·')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_names() {
        assert!(names_match("John Smith", "SMITH JOHN"));
        assert!(names_match("  john   smith ", "John Smith"));
        assert!(names_match("张伟", "张伟"));
        assert!(names_match("张 伟", "张伟"));
        assert!(!names_match("张伟", "张为"));
        assert!(!names_match("John Smith", "Jane Smith"));
        assert!(!names_match("", ""));
        assert!(is_plausible_name("Zhang Wei"));
        assert!(is_plausible_name("张伟"));
        assert!(is_plausible_name("Jean-Luc O'Neil"));
        assert!(!is_plausible_name("<script>"));
        assert!(!is_plausible_name("12345"));
        assert!(!is_plausible_name(""));
    }
}
