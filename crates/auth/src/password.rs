//! The password policy of the MHLW security guideline 6.0.
//!
//! # The rules
//!
//! A password is accepted when **all** of the following hold (the constants hold the numbers):
//!
//! 1. **Length.** At least [`MIN_LENGTH`] (13) characters; or at least
//!    [`MIN_LENGTH_WITH_SECOND_FACTOR`] (8) when the account has a second factor (TOTP)
//!    enrolled. At most [`MAX_LENGTH`] (128). Characters are Unicode scalar values: `山` and
//!    `a` count one each.
//! 2. **Mixed character types.** At least [`MIN_CHARACTER_CLASSES`] (3) of the five classes
//!    of [`CharClass`]: lowercase letters, uppercase letters, digits, symbols (anything else
//!    visible, including the space), and Japanese characters (hiragana, katakana, kanji).
//! 3. **Not a common password.** After folding case and full-width forms, the password is not
//!    on the embedded blocklist (`data/common-passwords.txt`), nor is it a blocklisted entry
//!    with up to 16 digits or symbols added at either end, nor a l33t spelling of one
//!    (`P@ssw0rd`).
//! 4. **No own identifiers.** It does not contain the user's login id, a part of their name,
//!    or their organisation code, compared case- and width-insensitively, forwards or
//!    backwards, and also after undoing l33t substitutions.
//! 5. **Not repetitive.** No character four or more times in a row (`aaaa`), and not one
//!    shorter string repeated (`Ab1!Ab1!Ab1!`).
//! 6. **Visible characters only.** No control characters or invisible format characters
//!    (zero-width spaces, bidirectional overrides, byte-order marks).
//!
//! # Where the numbers come from
//!
//! The guideline (第6.0版, システム運用編 14章, with Q&A シQ-54) lists as acceptable:
//! (a) 13 or more characters mixing letters, digits and symbols; (b) 8 or more characters
//! changed at least every two months; (c) with two-factor authentication, 8 or more
//! characters. This policy implements (a) and (c). It does not implement (b): there is **no
//! periodic expiry**. The guideline itself (Q&A シQ-50, following NIST SP 800-63B and NISC)
//! says forced periodic changes push users to predictable variants and are not required when
//! passwords are long and hard to guess and stored safely; here every password meets (a) or
//! (c), is screened against common and personal choices, and is stored as an argon2id hash.
//! A password must of course be changed when it is suspected to be compromised; that is an
//! operational decision, not a timer.
//!
//! "Mixing letters, digits and symbols" is implemented as "at least three of five classes".
//! Splitting letters by case follows common practice and matches how the search space of a
//! guessing attack grows. Japanese characters form their own class because each one is drawn
//! from thousands of kana and kanji, which enlarges the search space far more than a symbol
//! does; refusing them would push Japanese-speaking users towards romaji, which is more
//! guessable, not less. Full-width Latin letters, digits and symbols (`Ａ`, `１`, `！`, as an
//! IME in full-width mode produces) are classified like their ASCII forms: typing `Ａ`
//! instead of `A` adds no strength.
//!
//! # Why the blocklist comparison is "equal", not "contains"
//!
//! Rejecting every password that merely *contains* a common word would reject good
//! passphrases (`sakura-kawa-yama-7Z`). What is weak is a common password with predictable
//! decoration, so the comparison strips leading and trailing digits and symbols and undoes
//! l33t substitutions, then requires equality.
//!
//! # Identifiers
//!
//! Identifier parts shorter than three characters (two for Japanese, where a two-kanji
//! surname is a full name) are not checked: forbidding every password that contains `ai` or
//! `to` would reject many good passwords and protect nothing. Parts are split at separators
//! (`taro.yamada@...` gives `taro` and `yamada` as well as the whole id).

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Minimum length without a second factor (guideline option (a)).
pub const MIN_LENGTH: usize = 13;
/// Minimum length when a second factor is enrolled (guideline option (c)).
pub const MIN_LENGTH_WITH_SECOND_FACTOR: usize = 8;
/// Maximum length in characters. Generous for passphrases, and bounds the work of the checks.
pub const MAX_LENGTH: usize = 128;
/// How many [`CharClass`]es a password must draw on.
pub const MIN_CHARACTER_CLASSES: usize = 3;
/// The longest run of one character that is allowed; one more is refused.
pub const MAX_RUN: usize = 3;

/// Identifier parts shorter than this (in characters) are not checked, if ASCII.
const MIN_IDENTIFIER_PART_ASCII: usize = 3;
/// Identifier parts shorter than this are not checked, if they contain non-ASCII characters.
const MIN_IDENTIFIER_PART_OTHER: usize = 2;

/// The embedded blocklist, lowercase, one entry per line.
const BLOCKLIST_SOURCE: &str = include_str!("../data/common-passwords.txt");

static BLOCKLIST: LazyLock<HashSet<&'static str>> = LazyLock::new(|| blocklist_entries().collect());

/// The entries of the embedded blocklist (comments and blank lines skipped).
pub fn blocklist_entries() -> impl Iterator<Item = &'static str> {
    BLOCKLIST_SOURCE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// What the password is checked against besides itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct PasswordContext<'a> {
    /// The user's login id.
    pub login_id: &'a str,
    /// Parts of the user's name in every form the service knows: family and given name in
    /// kanji, their readings in kana, romaji. Each entry may itself contain spaces; it is
    /// split.
    pub name_parts: &'a [&'a str],
    /// The code of the user's organisation.
    pub org_code: &'a str,
    /// Whether the account has a second factor (TOTP) enrolled, which lowers the minimum
    /// length to [`MIN_LENGTH_WITH_SECOND_FACTOR`]. The service must re-check the password
    /// against the 13-character rule if the second factor is ever removed.
    pub second_factor_enrolled: bool,
}

/// Which of the user's identifiers a password contained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// The login id or a part of it.
    LoginId,
    /// A part of the user's name.
    Name,
    /// The organisation code or a part of it.
    OrgCode,
}

/// One reason a password is refused.
///
/// [`Self::code`] is stable and meant for programs (the API, tests, translations); the
/// messages are meant for the person choosing the password. Serialises as
/// `{"code": ..., "message_ja": ..., "message_en": ...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordProblem {
    /// Fewer characters than the minimum that applies.
    TooShort {
        /// The minimum that applies.
        min: usize,
        /// Whether a second factor is enrolled (it lowers the minimum).
        second_factor_enrolled: bool,
    },
    /// More characters than [`MAX_LENGTH`].
    TooLong {
        /// [`MAX_LENGTH`].
        max: usize,
    },
    /// Too few kinds of characters.
    TooFewCharacterClasses {
        /// [`MIN_CHARACTER_CLASSES`].
        required: usize,
        /// How many the password has.
        found: usize,
    },
    /// A common password, possibly decorated.
    CommonPassword,
    /// Contains one of the user's identifiers.
    ContainsIdentifier(Identifier),
    /// A run of more than [`MAX_RUN`] identical characters.
    RepeatedCharacter {
        /// [`MAX_RUN`].
        max_run: usize,
    },
    /// The whole password is a shorter string repeated.
    RepeatedPattern,
    /// Contains a control or invisible character.
    ControlCharacter,
}

impl PasswordProblem {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::TooFewCharacterClasses { .. } => "too_few_character_classes",
            Self::CommonPassword => "common_password",
            Self::ContainsIdentifier(Identifier::LoginId) => "contains_login_id",
            Self::ContainsIdentifier(Identifier::Name) => "contains_name",
            Self::ContainsIdentifier(Identifier::OrgCode) => "contains_org_code",
            Self::RepeatedCharacter { .. } => "repeated_character",
            Self::RepeatedPattern => "repeated_pattern",
            Self::ControlCharacter => "control_character",
        }
    }

    /// The message in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            Self::TooShort {
                min,
                second_factor_enrolled: false,
            } => format!(
                "パスワードは{min}文字以上にしてください（二要素認証を設定すると\
                 {MIN_LENGTH_WITH_SECOND_FACTOR}文字以上で設定できます）。"
            ),
            Self::TooShort { min, .. } => format!("パスワードは{min}文字以上にしてください。"),
            Self::TooLong { max } => format!("パスワードは{max}文字以内にしてください。"),
            Self::TooFewCharacterClasses { required, found } => format!(
                "英小文字・英大文字・数字・記号・日本語（かな・漢字）のうち{required}種類以上を\
                 組み合わせてください（現在{found}種類）。"
            ),
            Self::CommonPassword => {
                "よく使われるパスワード（またはそれに数字や記号を付け足しただけのもの）\
                 は使えません。"
                    .to_owned()
            }
            Self::ContainsIdentifier(which) => {
                let what = match which {
                    Identifier::LoginId => "ログインID",
                    Identifier::Name => "氏名",
                    Identifier::OrgCode => "組織コード",
                };
                format!("{what}を含むパスワード（逆順も含む）は使えません。")
            }
            Self::RepeatedCharacter { max_run } => {
                format!("同じ文字を{}回以上続けて使わないでください。", max_run + 1)
            }
            Self::RepeatedPattern => {
                "同じ文字列を繰り返しただけのパスワードは使えません。".to_owned()
            }
            Self::ControlCharacter => "制御文字や目に見えない文字は使えません。".to_owned(),
        }
    }

    /// The message in English.
    pub fn message_en(&self) -> String {
        match self {
            Self::TooShort {
                min,
                second_factor_enrolled: false,
            } => format!(
                "Use at least {min} characters ({MIN_LENGTH_WITH_SECOND_FACTOR} once \
                 two-factor authentication is set up)."
            ),
            Self::TooShort { min, .. } => format!("Use at least {min} characters."),
            Self::TooLong { max } => format!("Use at most {max} characters."),
            Self::TooFewCharacterClasses { required, found } => format!(
                "Mix at least {required} of: lowercase letters, uppercase letters, digits, \
                 symbols, Japanese characters (kana, kanji); this password has {found}."
            ),
            Self::CommonPassword => {
                "This is a common password (or one with only digits or symbols \
                 added) and too easy to guess."
                    .to_owned()
            }
            Self::ContainsIdentifier(which) => {
                let what = match which {
                    Identifier::LoginId => "your login ID",
                    Identifier::Name => "your name",
                    Identifier::OrgCode => "your organisation code",
                };
                format!("The password must not contain {what}, forwards or backwards.")
            }
            Self::RepeatedCharacter { max_run } => format!(
                "Do not repeat a character {} or more times in a row.",
                max_run + 1
            ),
            Self::RepeatedPattern => {
                "The password must not be a shorter string repeated.".to_owned()
            }
            Self::ControlCharacter => {
                "Control characters and invisible characters are not allowed.".to_owned()
            }
        }
    }
}

impl fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_en())
    }
}

impl Serialize for PasswordProblem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PasswordProblem", 3)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message_ja", &self.message_ja())?;
        s.serialize_field("message_en", &self.message_en())?;
        s.end()
    }
}

/// The five kinds of characters counted by rule 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CharClass {
    /// Lowercase letters, any script with case (`a`, `é`, full-width `ａ`).
    Lowercase,
    /// Uppercase letters, any script with case.
    Uppercase,
    /// Digits and other numeric characters (`7`, full-width `７`, `①`).
    Digit,
    /// Everything else that is visible: punctuation, symbols, the space, Japanese
    /// punctuation (`、。「」・`), letters of scripts without case.
    Symbol,
    /// Hiragana, katakana (full- and half-width, with `ー`), kanji and the iteration marks.
    Japanese,
}

impl CharClass {
    /// The class of `c`.
    pub fn of(c: char) -> Self {
        let c = fold_width(c);
        if is_japanese(c) {
            Self::Japanese
        } else if c.is_lowercase() {
            Self::Lowercase
        } else if c.is_uppercase() {
            Self::Uppercase
        } else if c.is_numeric() {
            Self::Digit
        } else {
            Self::Symbol
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Checks `password` against every rule and returns all problems found, so that the user can
/// fix them in one go. The order of the problems is stable.
///
/// # Errors
///
/// The list of problems, never empty, if the password is refused.
pub fn check_password(
    password: &str,
    context: &PasswordContext<'_>,
) -> Result<(), Vec<PasswordProblem>> {
    // Bound the work before anything else: every later check is linear or quadratic in the
    // length. Four bytes per character is the UTF-8 maximum, so this never refuses a password
    // of MAX_LENGTH characters.
    if password.len() > MAX_LENGTH * 4 || password.chars().count() > MAX_LENGTH {
        return Err(vec![PasswordProblem::TooLong { max: MAX_LENGTH }]);
    }

    let mut problems = Vec::new();
    let chars: Vec<char> = password.chars().collect();

    let min = if context.second_factor_enrolled {
        MIN_LENGTH_WITH_SECOND_FACTOR
    } else {
        MIN_LENGTH
    };
    if chars.len() < min {
        problems.push(PasswordProblem::TooShort {
            min,
            second_factor_enrolled: context.second_factor_enrolled,
        });
    }

    let classes = chars
        .iter()
        .fold(0u8, |acc, &c| acc | CharClass::of(c).bit());
    let found = classes.count_ones() as usize;
    if found < MIN_CHARACTER_CLASSES {
        problems.push(PasswordProblem::TooFewCharacterClasses {
            required: MIN_CHARACTER_CLASSES,
            found,
        });
    }

    let normalized = normalize(password);

    if is_common(&normalized) {
        problems.push(PasswordProblem::CommonPassword);
    }

    // The password as written and with l33t undone both ways (`Y4m4d4` hides `yamada`).
    let readings = [
        normalized.clone(),
        unleet(&normalized, LeetOne::I),
        unleet(&normalized, LeetOne::L),
    ];
    for (which, parts) in identifier_parts(context) {
        if parts
            .iter()
            .any(|part| contains_forwards_or_backwards(&readings, part))
        {
            problems.push(PasswordProblem::ContainsIdentifier(which));
        }
    }

    let folded: Vec<char> = normalized.chars().collect();
    let has_long_run = longest_run(&folded) > MAX_RUN;
    if has_long_run {
        problems.push(PasswordProblem::RepeatedCharacter { max_run: MAX_RUN });
    }
    // A period of 1 is a run of one character, already reported above when long enough.
    if let Some(period) = repetition_period(&folded) {
        if period > 1 || !has_long_run {
            problems.push(PasswordProblem::RepeatedPattern);
        }
    }

    if chars.iter().any(|&c| is_control_or_invisible(c)) {
        problems.push(PasswordProblem::ControlCharacter);
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Full-width ASCII variants (U+FF01..=U+FF5E) and the ideographic space become their ASCII
/// forms, so that an IME's full-width mode neither adds a character class nor hides a
/// blocklisted word or an identifier.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn is_japanese(c: char) -> bool {
    matches!(c,
        '\u{3041}'..='\u{309F}'     // hiragana
        | '\u{30A0}'..='\u{30FF}'   // katakana, including ー
        | '\u{31F0}'..='\u{31FF}'   // katakana phonetic extensions (small ㇰ etc.)
        | '\u{FF66}'..='\u{FF9F}'   // half-width katakana
        | '\u{3005}'..='\u{3007}'   // 々 〆 〇
        | '\u{303B}'                // 〻
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{20000}'..='\u{3134F}' // CJK extensions B to G, supplementary ideographs
    )
}

/// Control characters, and format characters that are invisible yet change what is stored:
/// zero-width spaces and joiners, bidirectional controls, the byte-order mark. A user cannot
/// reliably type these again, and they are a classic way to make two strings that look the
/// same differ.
fn is_control_or_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                    // soft hyphen
            | '\u{200B}'..='\u{200F}'     // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}'     // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'     // bidirectional isolates
            | '\u{FEFF}'                  // byte-order mark
        )
}

/// Width-folded and lowercased: the form in which passwords and identifiers are compared.
fn normalize(s: &str) -> String {
    s.chars()
        .map(fold_width)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The two l33t readings tried: `1` and `!` read as `i`, or as `l`. Everything else maps the
/// same way in both.
#[derive(Clone, Copy)]
enum LeetOne {
    I,
    L,
}

fn unleet(s: &str, one: LeetOne) -> String {
    s.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' | '|' => match one {
                LeetOne::I => 'i',
                LeetOne::L => 'l',
            },
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' | '+' => 't',
            '8' => 'b',
            '9' => 'g',
            other => other,
        })
        .collect()
}

/// Whether `c` is decoration: a digit or a symbol. Letters of any script are not.
fn is_decoration(c: char) -> bool {
    !c.is_alphabetic()
}

/// How many decorating characters at each end are tried for removal. A common word followed
/// by more than this many digits and symbols is no longer a guessable variant of it.
const MAX_DECORATION: usize = 16;

/// `normalized` is the password after [`normalize`]. Every way of cutting up to
/// [`MAX_DECORATION`] decorating characters off the start and the end is tried, each as is
/// and with l33t undone both ways. Cutting before undoing l33t matters (`password2024` must not
/// turn into `passwordzoza`); so does trying each cut separately (`a1b2c3!` must become
/// `a1b2c3`, not `a1b2c`; `@dmin123` must become `@dmin`, which reads as `admin`).
fn is_common(normalized: &str) -> bool {
    let chars: Vec<char> = normalized.chars().collect();
    let lead = chars
        .iter()
        .take_while(|&&c| is_decoration(c))
        .count()
        .min(MAX_DECORATION);
    let trail = chars
        .iter()
        .rev()
        .take_while(|&&c| is_decoration(c))
        .count()
        .min(MAX_DECORATION);
    (0..=lead).any(|start| {
        (chars.len() - trail..=chars.len()).any(|end| {
            start < end && {
                let core: String = chars[start..end].iter().collect();
                BLOCKLIST.contains(core.as_str())
                    || BLOCKLIST.contains(unleet(&core, LeetOne::I).as_str())
                    || BLOCKLIST.contains(unleet(&core, LeetOne::L).as_str())
            }
        })
    })
}

/// The normalised, sufficiently long parts of each identifier.
fn identifier_parts(context: &PasswordContext<'_>) -> [(Identifier, Vec<String>); 3] {
    let split = |value: &str| -> Vec<String> {
        let value = normalize(value);
        let mut parts: Vec<String> = value
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        parts.push(value.trim().to_owned());
        parts.retain(|p| {
            let len = p.chars().count();
            if p.is_ascii() {
                len >= MIN_IDENTIFIER_PART_ASCII
            } else {
                len >= MIN_IDENTIFIER_PART_OTHER
            }
        });
        parts.sort();
        parts.dedup();
        parts
    };
    [
        (Identifier::LoginId, split(context.login_id)),
        (
            Identifier::Name,
            context.name_parts.iter().flat_map(|n| split(n)).collect(),
        ),
        (Identifier::OrgCode, split(context.org_code)),
    ]
}

/// Whether any reading of the password contains `part` or `part` reversed.
fn contains_forwards_or_backwards(readings: &[String], part: &str) -> bool {
    let reversed: String = part.chars().rev().collect();
    readings
        .iter()
        .any(|r| r.contains(part) || r.contains(reversed.as_str()))
}

fn longest_run(chars: &[char]) -> usize {
    let mut longest = 0;
    let mut current = 0;
    let mut previous = None;
    for &c in chars {
        if previous == Some(c) {
            current += 1;
        } else {
            current = 1;
            previous = Some(c);
        }
        longest = longest.max(current);
    }
    longest
}

/// The shortest `p < len` such that the string is its first `p` characters repeated, if any.
fn repetition_period(chars: &[char]) -> Option<usize> {
    let n = chars.len();
    (1..=n / 2).find(|&p| n % p == 0 && (p..n).all(|i| chars[i] == chars[i - p]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PasswordContext<'static> {
        PasswordContext {
            login_id: "taro.yamada",
            name_parts: &["山田 太郎", "やまだ たろう", "Yamada", "Taro"],
            org_code: "tokyo-kenshin-01",
            second_factor_enrolled: false,
        }
    }

    fn codes(password: &str, context: &PasswordContext<'_>) -> Vec<&'static str> {
        match check_password(password, context) {
            Ok(()) => Vec::new(),
            Err(problems) => problems.iter().map(PasswordProblem::code).collect(),
        }
    }

    #[test]
    fn good_passwords_pass() {
        for pw in [
            "Kiri-Umbrella-48x",
            "correct Horse 7 battery",
            "ねこneko2024xyz",
            "霧の中のBlue7Ferry",
            "Vq3#mZ8!pL2@wR",
        ] {
            assert_eq!(codes(pw, &ctx()), Vec::<&str>::new(), "{pw}");
        }
    }

    #[test]
    fn length_depends_on_second_factor() {
        let pw = "Fq7#mZ8!xy"; // 10 characters, 4 classes
        assert_eq!(codes(pw, &ctx()), ["too_short"]);
        let with_2fa = PasswordContext {
            second_factor_enrolled: true,
            ..ctx()
        };
        assert!(check_password(pw, &with_2fa).is_ok());
        assert_eq!(codes("Fq7#mZ8", &with_2fa), ["too_short"]);
        // Exactly at the limits.
        assert!(check_password("Fq7#mZ8!", &with_2fa).is_ok());
        assert!(check_password("Fq7#mZ8!xk2Wp", &ctx()).is_ok());
        assert_eq!(codes("Fq7#mZ8!xk2W", &ctx()), ["too_short"]);
    }

    #[test]
    fn japanese_counts_by_character_and_as_a_class() {
        // 13 characters: 10 kanji/kana, 2 digits, 1 symbol → 3 classes.
        assert!(check_password("東京都港区芝公園です!42", &ctx()).is_ok());
        // Kanji and digits only: 2 classes.
        assert_eq!(
            codes("東京都港区芝公園四丁目42", &ctx()),
            ["too_few_character_classes"]
        );
    }

    #[test]
    fn full_width_ascii_counts_as_ascii() {
        // Full-width uppercase and digits only: two classes, not a Japanese one.
        assert_eq!(
            codes("ＸＫＱＲＢＭＺ１２３４５６７", &ctx()),
            ["too_few_character_classes"]
        );
        assert_eq!(CharClass::of('ａ'), CharClass::Lowercase);
        assert_eq!(CharClass::of('！'), CharClass::Symbol);
        assert_eq!(CharClass::of('７'), CharClass::Digit);
        assert_eq!(CharClass::of('ｶ'), CharClass::Japanese);
        assert_eq!(CharClass::of('ー'), CharClass::Japanese);
        assert_eq!(CharClass::of('々'), CharClass::Japanese);
        assert_eq!(CharClass::of('。'), CharClass::Symbol);
        assert_eq!(CharClass::of(' '), CharClass::Symbol);
    }

    #[test]
    fn too_long() {
        let pw = "Aa1!".repeat(40);
        assert_eq!(codes(&pw, &ctx()), ["too_long"]);
        let pw: String = "Aa1!xYz9".chars().cycle().take(MAX_LENGTH).collect();
        assert!(!codes(&pw, &ctx()).contains(&"too_long"));
    }

    #[test]
    fn common_passwords_and_decorations() {
        let with_2fa = PasswordContext {
            second_factor_enrolled: true,
            ..ctx()
        };
        for pw in [
            "Password123!",
            "P@ssw0rd2024",
            "!!Qwerty12345",
            "@dmin123#2025",
            "Sakura2024!!",
            "2024Tokyo!!!",
            "Kenshin-2024",
            "ＰＡＳＳＷＯＲＤ１２３！",
            "パスワード2024!!",
            "L3tm31n!2024",
            "Zaq12wsx!",
            "1qaz2WSX3edc!",
            "A1B2C3d4!!",
        ] {
            assert!(codes(pw, &with_2fa).contains(&"common_password"), "{pw}");
        }
        // Containing a common word is fine when the rest is not decoration.
        assert!(check_password("sakura-kawa-Yama-7Z", &ctx()).is_ok());
    }

    #[test]
    fn own_identifiers_are_refused() {
        let cases = [
            ("Yamada#2024!xyz", "contains_login_id"), // also a name part
            ("adamay#2024!Xyz", "contains_name"),     // reversed
            ("山田さんの秘密Ab1!", "contains_name"),
            ("T0ky0-K3nsh1n-x", "contains_org_code"),
            ("Y4m4d4!Qx-2024z", "contains_name"),
            ("xx-TARO.YAMADA-9", "contains_login_id"),
        ];
        for (pw, code) in cases {
            assert!(
                codes(pw, &ctx()).contains(&code),
                "{pw}: {:?}",
                codes(pw, &ctx())
            );
        }
        // Short identifier parts are not enforced.
        let short = PasswordContext {
            login_id: "ab",
            name_parts: &["Li"],
            org_code: "01",
            second_factor_enrolled: false,
        };
        assert!(check_password("ab-Li-01-Vq3#mZ8!", &short).is_ok());
    }

    #[test]
    fn repetition() {
        assert!(codes("Xk2#aaaa-Vq9!m", &ctx()).contains(&"repeated_character"));
        assert!(check_password("Xk2#aaa-Vq9!mZ", &ctx()).is_ok());
        assert_eq!(codes("Ab1!Ab1!Ab1!Ab1!", &ctx()), ["repeated_pattern"]);
        // Width and case folded before counting runs.
        assert!(codes("Xk2#aAａＡ-Vq9!m", &ctx()).contains(&"repeated_character"));
    }

    #[test]
    fn control_and_invisible_characters() {
        assert!(codes("Vq3#mZ8!pL2@w\u{0}", &ctx()).contains(&"control_character"));
        assert!(codes("Vq3#mZ8!pL2@w\u{200B}", &ctx()).contains(&"control_character"));
        assert!(codes("Vq3#mZ8!pL2@w\u{202E}", &ctx()).contains(&"control_character"));
    }

    #[test]
    fn all_problems_reported_with_messages() {
        let problems = check_password("aaaa", &ctx()).unwrap_err();
        let codes: Vec<_> = problems.iter().map(PasswordProblem::code).collect();
        assert_eq!(
            codes,
            [
                "too_short",
                "too_few_character_classes",
                "repeated_character"
            ]
        );
        for p in &problems {
            assert!(p.message_ja().ends_with('。'));
            assert!(p.message_en().ends_with('.'));
        }
        let json = serde_json::to_value(&problems[0]).unwrap();
        assert_eq!(json["code"], "too_short");
        assert!(json["message_ja"].as_str().unwrap().contains("13文字以上"));
        assert!(json["message_en"].as_str().unwrap().contains("13"));
    }

    #[test]
    fn blocklist_file_is_well_formed() {
        let entries: Vec<_> = blocklist_entries().collect();
        assert!(entries.len() >= 300, "{}", entries.len());
        let unique: HashSet<_> = entries.iter().collect();
        assert_eq!(unique.len(), entries.len(), "duplicate entries");
        for e in &entries {
            assert_eq!(*e, normalize(e), "{e} is not normalised");
            assert!(!e.chars().any(char::is_whitespace), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_is_deterministic(pw in "\\PC{0,40}", login in "\\PC{0,12}") {
            let context = PasswordContext { login_id: &login, ..ctx() };
            let a = check_password(&pw, &context);
            let b = check_password(&pw, &context);
            proptest::prop_assert_eq!(a, b);
        }

        #[test]
        fn appending_digits_to_a_blocklisted_word_is_refused(
            index in 0usize..300,
            suffix in "[0-9!#?.]{0,8}",
        ) {
            let entries: Vec<_> = blocklist_entries().collect();
            let word = entries[index % entries.len()];
            let pw = format!("{word}{suffix}");
            let problems = check_password(&pw, &PasswordContext::default()).unwrap_err();
            proptest::prop_assert!(problems.contains(&PasswordProblem::CommonPassword));
        }
    }
}
