//! The profile file: a UTF-8 CSV that staff can open in a spreadsheet (docs/PROFILE_FORMAT.md).
//!
//! The file is read one physical line at a time, and one line is one record: a line break inside
//! a cell is refused. That keeps every error message's line number equal to the line a person
//! sees in an editor, and lets the reader stop at a fixed number of bytes per line, so that a
//! corrupt or hostile file (a single endless line) is never buffered whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use crate::model::{
    CodeTerm, Item, ItemKind, NumberFormat, Profile, ProfileError, Range, ReferenceRanges,
    XmlDataType, XmlInfo,
};

/// Longest line accepted, in bytes, without its line break. Real lines are a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Largest profile file accepted. An official list of a thousand items is well under 1 MiB;
/// the cap bounds the memory a profile can take.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// `max_bytes` of an item whose cell is empty: the standard CSV's general limit.
pub const DEFAULT_MAX_BYTES: u16 = 512;

/// The `column` of errors about a whole line or the whole file rather than one cell.
const WHOLE_LINE: &str = "*";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The embedded default profile (see `generate` and the test that regenerates it).
const DEFAULT_PROFILE_CSV: &str = include_str!("../profiles/mhlw-tokutei-4ki.csv");

/// The columns of a profile file, in the order `write_csv` writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Code,
    Name,
    Category,
    Type,
    Format,
    Codes,
    Unit,
    Ucum,
    MaxBytes,
    InputLow,
    InputHigh,
    MaleLow,
    MaleHigh,
    FemaleLow,
    FemaleHigh,
    Programs,
    XmlType,
    CodeSystem,
    MethodCode,
    SeriesGroup,
}

const COLUMN_COUNT: usize = 20;

impl Column {
    const ALL: [Column; COLUMN_COUNT] = [
        Column::Code,
        Column::Name,
        Column::Category,
        Column::Type,
        Column::Format,
        Column::Codes,
        Column::Unit,
        Column::Ucum,
        Column::MaxBytes,
        Column::InputLow,
        Column::InputHigh,
        Column::MaleLow,
        Column::MaleHigh,
        Column::FemaleLow,
        Column::FemaleHigh,
        Column::Programs,
        Column::XmlType,
        Column::CodeSystem,
        Column::MethodCode,
        Column::SeriesGroup,
    ];

    fn name(self) -> &'static str {
        match self {
            Column::Code => "code",
            Column::Name => "name",
            Column::Category => "category",
            Column::Type => "type",
            Column::Format => "format",
            Column::Codes => "codes",
            Column::Unit => "unit",
            Column::Ucum => "ucum",
            Column::MaxBytes => "max_bytes",
            Column::InputLow => "input_low",
            Column::InputHigh => "input_high",
            Column::MaleLow => "male_low",
            Column::MaleHigh => "male_high",
            Column::FemaleLow => "female_low",
            Column::FemaleHigh => "female_high",
            Column::Programs => "programs",
            Column::XmlType => "xml_type",
            Column::CodeSystem => "code_system",
            Column::MethodCode => "method_code",
            Column::SeriesGroup => "series_group",
        }
    }

    fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The column names of a profile file, in the order [`Profile::write_csv`] writes them.
pub fn profile_columns() -> [&'static str; COLUMN_COUNT] {
    Column::ALL.map(Column::name)
}

fn invalid(line: u64, column: impl Into<String>, message: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        line,
        column: column.into(),
        message: message.into(),
    }
}

impl Profile {
    /// Reads a profile file (UTF-8 CSV, BOM allowed; format in docs/PROFILE_FORMAT.md).
    ///
    /// Every error names the 1-based line and the column (`*` when it concerns the whole line
    /// or file). Reading stops at the first error and never buffers more than one line of at
    /// most [`MAX_LINE_BYTES`]; files over [`MAX_FILE_BYTES`] are refused.
    pub fn from_csv_reader<R: Read>(reader: R) -> Result<Profile, ProfileError> {
        let mut lines = LineReader::new(reader);
        let mut metadata = Metadata::default();
        let mut header: Option<Header> = None;
        let mut items = Vec::new();
        let mut first_seen: HashMap<String, u64> = HashMap::new();

        loop {
            let cells = match lines.next_line()? {
                RawLine::Eof => break,
                RawLine::TooLong { cell } => {
                    return Err(invalid(
                        lines.line_no,
                        column_label(header.as_ref(), cell),
                        format!("line is longer than {MAX_LINE_BYTES} bytes"),
                    ))
                }
                RawLine::Line => split_cells(&lines.buf, false).map_err(|e| {
                    invalid(
                        lines.line_no,
                        column_label(header.as_ref(), e.cell),
                        e.message,
                    )
                })?,
            };
            let line = lines.line_no;
            // Spreadsheets write rows of empty cells for blank rows; they carry nothing.
            if cells.iter().all(String::is_empty) {
                continue;
            }
            let Some(header) = &header else {
                if cells[0].starts_with('#') {
                    metadata.take_line(line, &cells)?;
                } else {
                    header = Some(Header::parse(line, &cells)?);
                    metadata.require_complete(line)?;
                }
                continue;
            };
            let row = header.row(line, cells)?;
            let item = parse_item(&row)
                .map_err(|(column, message)| invalid(line, column.name(), message))?;
            if let Some(first) = first_seen.get(&item.code) {
                return Err(invalid(
                    line,
                    Column::Code.name(),
                    format!("item {} is already defined on line {first}", item.code),
                ));
            }
            first_seen.insert(item.code.clone(), line);
            items.push(item);
        }

        if header.is_none() {
            let message = if lines.line_no == 0 {
                "the file is empty: expected `# id:`, `# version:`, `# name:` lines and a header row"
            } else {
                "no header row: expected `# id:`, `# version:`, `# name:` lines and a row of column names"
            };
            return Err(invalid(lines.line_no.max(1), WHOLE_LINE, message));
        }
        let (id, version, name) = metadata.into_values();
        Profile::new(id, version, name, items)
    }

    /// Reads a profile file from disk; I/O errors name the path.
    pub fn from_path(path: &Path) -> Result<Profile, ProfileError> {
        let file = File::open(path)
            .map_err(|e| ProfileError::Io(format!("cannot open {}: {e}", path.display())))?;
        Profile::from_csv_reader(file).map_err(|e| match e {
            ProfileError::Io(message) => {
                ProfileError::Io(format!("reading {}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Writes the profile as a profile file: UTF-8 with a BOM (so that spreadsheets detect the
    /// encoding), `\n` line breaks, metadata lines, the header, one line per item.
    ///
    /// The output is read back before anything is written: a profile that would not read back
    /// exactly equal (an empty `Some("")` unit, a control character, a malformed code, …) is
    /// refused with [`io::ErrorKind::InvalidInput`] naming the item and the field, and `w`
    /// receives nothing.
    pub fn write_csv<W: Write>(&self, mut w: W) -> io::Result<()> {
        let text = self.to_csv_text()?;
        w.write_all(text.as_bytes())?;
        w.flush()
    }

    /// The built-in profile: MHLW 第4期 public items (`profiles/mhlw-tokutei-4ki.csv`).
    pub fn default_profile() -> &'static Profile {
        static DEFAULT: OnceLock<Profile> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            Profile::from_csv_reader(DEFAULT_PROFILE_CSV.as_bytes())
                // A test parses the embedded file, so this cannot fail in a tested build.
                .unwrap_or_else(|e| panic!("the embedded default profile is invalid: {e}"))
        })
    }

    fn to_csv_text(&self) -> io::Result<String> {
        let refuse = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);

        let mut out = String::from("\u{FEFF}");
        for (key, value) in [
            ("id", &self.id),
            ("version", &self.version),
            ("name", &self.name),
        ] {
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Err(refuse(format!(
                    "profile {key} contains the control character {:?}",
                    c
                )));
            }
            push_line(&mut out, [format!("# {key}: {value}")]);
        }
        push_line(&mut out, profile_columns().map(str::to_owned));
        for item in &self.items {
            let cells = item_cells(item);
            for (column, cell) in Column::ALL.iter().zip(&cells) {
                if let Some(c) = cell.chars().find(|c| c.is_control()) {
                    return Err(refuse(format!(
                        "item {}: {} contains the control character {:?}",
                        item.code,
                        column.name(),
                        c
                    )));
                }
            }
            push_line(&mut out, cells);
        }

        // Reading the text back is the one definition of "representable": whatever the reader
        // would refuse or change is refused here, so a written file always reads back equal.
        let back = Profile::from_csv_reader(out.as_bytes()).map_err(|e| {
            refuse(match e {
                ProfileError::Invalid {
                    line,
                    column,
                    message,
                } => {
                    // Lines 1–3 are metadata, 4 the header, then one item per line.
                    let item = usize::try_from(line)
                        .ok()
                        .and_then(|l| l.checked_sub(5))
                        .and_then(|i| self.items.get(i));
                    match item {
                        Some(item) => format!("item {}: {column}: {message}", item.code),
                        None => format!("profile cannot be written: {column}: {message}"),
                    }
                }
                other => format!("profile cannot be written: {other}"),
            })
        })?;
        if let Some(difference) = first_difference(self, &back) {
            return Err(refuse(difference));
        }
        Ok(out)
    }
}

/// Describes the first field that differs between `wanted` and what was read back.
fn first_difference(wanted: &Profile, back: &Profile) -> Option<String> {
    for (key, a, b) in [
        ("id", &wanted.id, &back.id),
        ("version", &wanted.version, &back.version),
        ("name", &wanted.name, &back.name),
    ] {
        if a != b {
            return Some(format!(
                "profile {key} {a:?} would read back as {b:?} (no leading or trailing spaces)"
            ));
        }
    }
    if wanted.items.len() != back.items.len() {
        return Some(format!(
            "{} items would read back as {}",
            wanted.items.len(),
            back.items.len()
        ));
    }
    for (a, b) in wanted.items.iter().zip(&back.items) {
        if a == b {
            continue;
        }
        let debug = |x: &dyn std::fmt::Debug| format!("{x:?}");
        let fields = [
            ("code", debug(&a.code), debug(&b.code)),
            ("name", debug(&a.name), debug(&b.name)),
            ("category", debug(&a.category), debug(&b.category)),
            ("kind", debug(&a.kind), debug(&b.kind)),
            ("unit", debug(&a.unit), debug(&b.unit)),
            ("ucum", debug(&a.ucum), debug(&b.ucum)),
            ("max_bytes", debug(&a.max_bytes), debug(&b.max_bytes)),
            ("input range", debug(&a.input_range), debug(&b.input_range)),
            ("reference ranges", debug(&a.reference), debug(&b.reference)),
            ("programs", debug(&a.programs), debug(&b.programs)),
            ("xml", debug(&a.xml), debug(&b.xml)),
        ];
        let detail = fields.into_iter().find(|(_, x, y)| x != y).map_or_else(
            || "would not read back equal".to_owned(),
            |(field, x, y)| format!("{field} {x} would read back as {y}"),
        );
        return Some(format!("item {}: {detail}", a.code));
    }
    None
}

/// The cells of an item, in [`Column::ALL`] order.
fn item_cells(item: &Item) -> [String; COLUMN_COUNT] {
    let (format, codes) = match &item.kind {
        ItemKind::Numeric { format } => (format.to_string(), String::new()),
        ItemKind::Code { terms } => (String::new(), format_code_list(terms)),
        ItemKind::Text | ItemKind::Date => (String::new(), String::new()),
    };
    let bound = |range: Option<&Range>, high: bool| {
        range
            .and_then(|r| if high { r.high.clone() } else { r.low.clone() })
            .unwrap_or_default()
    };
    let input = item.input_range.as_ref();
    let male = item.reference.as_ref().and_then(|r| r.male.as_ref());
    let female = item.reference.as_ref().and_then(|r| r.female.as_ref());
    let xml = item.xml.as_ref();
    let xml_text = |f: fn(&XmlInfo) -> &Option<String>| xml.and_then(|x| f(x).clone());
    [
        item.code.clone(),
        item.name.clone(),
        item.category.clone(),
        item.kind.type_name().to_owned(),
        format,
        codes,
        item.unit.clone().unwrap_or_default(),
        item.ucum.clone().unwrap_or_default(),
        item.max_bytes.to_string(),
        bound(input, false),
        bound(input, true),
        bound(male, false),
        bound(male, true),
        bound(female, false),
        bound(female, true),
        join_list(&item.programs),
        xml.map(|x| x.data_type.as_str().to_owned())
            .unwrap_or_default(),
        xml_text(|x| &x.code_system).unwrap_or_default(),
        xml_text(|x| &x.method_code).unwrap_or_default(),
        xml_text(|x| &x.series_group).unwrap_or_default(),
    ]
}

/// Appends one CSV line, quoting cells that contain a comma or a quote.
fn push_line<const N: usize>(out: &mut String, cells: [String; N]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push('\n');
}

// ---------------------------------------------------------------------------------------------
// Lines and cells

enum RawLine {
    Eof,
    /// A line is in `LineReader::buf`, without its line break (and, on line 1, without a BOM).
    Line,
    /// The line exceeds [`MAX_LINE_BYTES`]; `cell` is the 0-based cell where the limit was hit.
    TooLong {
        cell: usize,
    },
}

struct LineReader<R> {
    inner: BufReader<R>,
    buf: Vec<u8>,
    /// 1-based number of the line in `buf` (or of the line being refused).
    line_no: u64,
    total: u64,
}

impl<R: Read> LineReader<R> {
    fn new(reader: R) -> Self {
        LineReader {
            inner: BufReader::new(reader),
            buf: Vec::new(),
            line_no: 0,
            total: 0,
        }
    }

    fn next_line(&mut self) -> Result<RawLine, ProfileError> {
        self.buf.clear();
        // Room for the longest line plus `\r\n`; anything longer is refused unread.
        let limit = MAX_LINE_BYTES as u64 + 2;
        let read = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ProfileError::Io(e.to_string()))?;
        if read == 0 {
            return Ok(RawLine::Eof);
        }
        self.line_no += 1;
        self.total += read as u64;
        if self.total > MAX_FILE_BYTES {
            return Err(invalid(
                self.line_no,
                WHOLE_LINE,
                format!(
                    "the file is larger than {} MiB",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            ));
        }
        let ended = self.buf.last() == Some(&b'\n');
        if ended {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.line_no == 1 && self.buf.starts_with(BOM) {
            self.buf.drain(..BOM.len());
        }
        if self.buf.len() > MAX_LINE_BYTES || (!ended && read as u64 == limit) {
            return Ok(RawLine::TooLong {
                cell: cell_index_at_end(&self.buf),
            });
        }
        Ok(RawLine::Line)
    }
}

/// An error in the cell with this 0-based index.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CellError {
    pub(crate) cell: usize,
    pub(crate) message: String,
}

/// Splits one record into cells (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`), strictly: a quote
/// inside an unquoted cell, text after a closing quote, and a missing closing quote are errors,
/// as are text that is not UTF-8 and control characters — except `\n` inside a quoted cell
/// when `line_breaks` allows it (the MHLW tables may have them; profile files may not).
pub(crate) fn split_cells(line: &[u8], line_breaks: bool) -> Result<Vec<String>, CellError> {
    let mut cells = Vec::new();
    let mut i = 0;
    loop {
        let index = cells.len();
        let fail = |message: &str| CellError {
            cell: index,
            message: message.to_owned(),
        };
        let mut cell = Vec::new();
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match line.get(i) {
                    None => {
                        return Err(fail(
                            "missing closing quote (a line break inside a cell is not allowed)",
                        ))
                    }
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        cell.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        cell.push(b);
                        i += 1;
                    }
                }
            }
            if !matches!(line.get(i), None | Some(b',')) {
                return Err(fail("text after the closing quote of a quoted cell"));
            }
        } else {
            while let Some(&b) = line.get(i) {
                match b {
                    b',' => break,
                    b'"' => return Err(fail(
                        "quote inside an unquoted cell (quote the whole cell and double the quote)",
                    )),
                    _ => {
                        cell.push(b);
                        i += 1;
                    }
                }
            }
        }
        let text = String::from_utf8(cell).map_err(|_| {
            fail("not UTF-8 text (save the file as “CSV UTF-8”, not as Shift_JIS/CP932)")
        })?;
        if let Some(c) = text
            .chars()
            .find(|&c| c.is_control() && !(line_breaks && c == '\n'))
        {
            return Err(fail(&format!(
                "control character U+{:04X} is not allowed",
                u32::from(c)
            )));
        }
        cells.push(text);
        match line.get(i) {
            Some(b',') => i += 1,
            _ => return Ok(cells),
        }
    }
}

/// The 0-based index of the cell that the end of `prefix` falls in.
fn cell_index_at_end(prefix: &[u8]) -> usize {
    let mut quoted = false;
    let mut index = 0;
    for &b in prefix {
        match b {
            // A doubled quote inside a quoted cell toggles twice, which is what it should do.
            b'"' => quoted = !quoted,
            b',' if !quoted => index += 1,
            _ => {}
        }
    }
    index
}

/// The name of the column at cell `index`, or its spreadsheet letter when there is no header
/// for it (metadata lines, cells beyond the last column).
fn column_label(header: Option<&Header>, index: usize) -> String {
    match header.and_then(|h| h.columns.get(index)) {
        Some(column) => column.name().to_owned(),
        None => spreadsheet_letter(index),
    }
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`: how a spreadsheet names the column.
pub(crate) fn spreadsheet_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    letters.iter().rev().map(|&b| char::from(b)).collect()
}

// ---------------------------------------------------------------------------------------------
// Metadata and header

#[derive(Default)]
struct Metadata {
    id: Option<String>,
    version: Option<String>,
    name: Option<String>,
}

impl Metadata {
    /// Takes a line before the header whose first cell starts with `#`: `# id: …`,
    /// `# version: …`, `# name: …`, or a comment (any other `#` line).
    fn take_line(&mut self, line: u64, cells: &[String]) -> Result<(), ProfileError> {
        let Some((key, value)) = cells[0][1..].split_once(':') else {
            return Ok(());
        };
        let key = key.trim();
        let slot = match key {
            "id" => &mut self.id,
            "version" => &mut self.version,
            "name" => &mut self.name,
            _ => return Ok(()),
        };
        let column = format!("# {key}");
        // A value with an unquoted comma arrives split over several cells; taking only the
        // first part would silently shorten it.
        if let Some(extra) = cells.iter().skip(1).position(|c| !c.is_empty()) {
            return Err(invalid(
                line,
                column,
                format!(
                    "text continues in cell {} (a value with a comma must be quoted as one cell)",
                    spreadsheet_letter(extra + 1)
                ),
            ));
        }
        if slot.is_some() {
            return Err(invalid(line, column, "given twice"));
        }
        let value = value.trim();
        if value.is_empty() && key != "name" {
            return Err(invalid(line, column, "must not be empty"));
        }
        *slot = Some(value.to_owned());
        Ok(())
    }

    fn require_complete(&self, header_line: u64) -> Result<(), ProfileError> {
        for (key, value) in [
            ("id", &self.id),
            ("version", &self.version),
            ("name", &self.name),
        ] {
            if value.is_none() {
                return Err(invalid(
                    header_line,
                    format!("# {key}"),
                    format!("missing: a `# {key}: …` line must come before the header row"),
                ));
            }
        }
        Ok(())
    }

    fn into_values(self) -> (String, String, String) {
        (
            self.id.unwrap_or_default(),
            self.version.unwrap_or_default(),
            self.name.unwrap_or_default(),
        )
    }
}

struct Header {
    /// The column of each cell of the header row (trailing empty cells excluded).
    columns: Vec<Column>,
    /// The cell index of each column, by [`Column::index`].
    positions: [usize; COLUMN_COUNT],
}

impl Header {
    fn parse(line: u64, cells: &[String]) -> Result<Header, ProfileError> {
        // Spreadsheets may add empty cells after the last column; they name nothing.
        let len = cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |p| p + 1);
        let mut columns = Vec::with_capacity(len);
        let mut positions = [usize::MAX; COLUMN_COUNT];
        for (index, name) in cells[..len].iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(
                    line,
                    spreadsheet_letter(index),
                    "empty column name in the header row",
                ));
            }
            let Some(column) = Column::from_name(name) else {
                return Err(invalid(
                    line,
                    name.clone(),
                    format!(
                        "unknown column {name:?}; the columns are {}",
                        profile_columns().join(", ")
                    ),
                ));
            };
            if positions[column.index()] != usize::MAX {
                return Err(invalid(
                    line,
                    name.clone(),
                    format!(
                        "column appears twice (cells {} and {})",
                        spreadsheet_letter(positions[column.index()]),
                        spreadsheet_letter(index)
                    ),
                ));
            }
            positions[column.index()] = index;
            columns.push(column);
        }
        if let Some(missing) = Column::ALL
            .into_iter()
            .find(|c| positions[c.index()] == usize::MAX)
        {
            return Err(invalid(
                line,
                missing.name(),
                "missing column in the header row",
            ));
        }
        Ok(Header { columns, positions })
    }

    /// Rearranges a row's cells into [`Column::ALL`] order.
    fn row(&self, line: u64, mut cells: Vec<String>) -> Result<Vec<String>, ProfileError> {
        if cells.len() < self.columns.len() {
            return Err(invalid(
                line,
                self.columns[cells.len()].name(),
                format!(
                    "the row has {} cells but the header has {} columns",
                    cells.len(),
                    self.columns.len()
                ),
            ));
        }
        if let Some(extra) = cells[self.columns.len()..]
            .iter()
            .position(|c| !c.is_empty())
        {
            return Err(invalid(
                line,
                spreadsheet_letter(self.columns.len() + extra),
                "text in a cell after the last column",
            ));
        }
        Ok(self
            .positions
            .iter()
            .map(|&p| std::mem::take(&mut cells[p]))
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Items

/// Builds an item from its cells in [`Column::ALL`] order; an error names the column.
fn parse_item(row: &[String]) -> Result<Item, (Column, String)> {
    let cell = |c: Column| row[c.index()].as_str();
    let optional = |c: Column| Some(cell(c)).filter(|s| !s.is_empty()).map(str::to_owned);

    let code = cell(Column::Code);
    check_item_code(code).map_err(|m| (Column::Code, m))?;
    if cell(Column::Name).is_empty() {
        return Err((Column::Name, "the item has no name".to_owned()));
    }

    let type_name = cell(Column::Type);
    let format = cell(Column::Format);
    let codes = cell(Column::Codes);
    let kind = match type_name {
        "numeric" => {
            let format = if format.is_empty() {
                NumberFormat::UNSPECIFIED
            } else {
                NumberFormat::parse(format).ok_or_else(|| {
                    (
                        Column::Format,
                        format!("{format:?} is not a number format like NNN.N"),
                    )
                })?
            };
            ItemKind::Numeric { format }
        }
        "code" => ItemKind::Code {
            terms: parse_code_list(codes).map_err(|m| (Column::Codes, m))?,
        },
        "text" => ItemKind::Text,
        "date" => ItemKind::Date,
        other => {
            return Err((
                Column::Type,
                format!("{other:?} is not a type; write numeric, code, text or date"),
            ))
        }
    };
    if !matches!(kind, ItemKind::Numeric { .. }) && !format.is_empty() {
        return Err((
            Column::Format,
            format!("only numeric items have a format (this item is {type_name})"),
        ));
    }
    if !matches!(kind, ItemKind::Code { .. }) && !codes.is_empty() {
        return Err((
            Column::Codes,
            format!("only code items have a code list (this item is {type_name})"),
        ));
    }

    let max_bytes = match cell(Column::MaxBytes) {
        "" => DEFAULT_MAX_BYTES,
        text => parse_u16(text).ok_or_else(|| {
            (
                Column::MaxBytes,
                format!("{text:?} is not a whole number from 0 to 65535"),
            )
        })?,
    };

    let range = |low: Column, high: Column| -> Result<Option<Range>, (Column, String)> {
        let bound = |c: Column| -> Result<Option<String>, (Column, String)> {
            match cell(c) {
                "" => Ok(None),
                text if is_decimal(text) => Ok(Some(text.to_owned())),
                text => Err((
                    c,
                    format!("{text:?} is not a decimal number like 100, 0.5 or -3"),
                )),
            }
        };
        let (low, high) = (bound(low)?, bound(high)?);
        Ok((low.is_some() || high.is_some()).then_some(Range { low, high }))
    };
    let input_range = range(Column::InputLow, Column::InputHigh)?;
    let male = range(Column::MaleLow, Column::MaleHigh)?;
    let female = range(Column::FemaleLow, Column::FemaleHigh)?;
    let reference =
        (male.is_some() || female.is_some()).then_some(ReferenceRanges { male, female });

    let programs = split_list(cell(Column::Programs)).map_err(|m| (Column::Programs, m))?;

    let xml = match cell(Column::XmlType) {
        "" => {
            for c in [Column::CodeSystem, Column::MethodCode, Column::SeriesGroup] {
                if !cell(c).is_empty() {
                    return Err((c, "given for an item without xml_type".to_owned()));
                }
            }
            None
        }
        text => Some(XmlInfo {
            data_type: XmlDataType::parse(text).ok_or_else(|| {
                (
                    Column::XmlType,
                    format!("{text:?} is not an XML type; write PQ, CD, CO, ST or leave empty"),
                )
            })?,
            code_system: optional(Column::CodeSystem),
            method_code: optional(Column::MethodCode),
            series_group: optional(Column::SeriesGroup),
        }),
    };

    Ok(Item {
        code: code.to_owned(),
        name: cell(Column::Name).to_owned(),
        category: cell(Column::Category).to_owned(),
        kind,
        unit: optional(Column::Unit),
        ucum: optional(Column::Ucum),
        max_bytes,
        input_range,
        reference,
        programs,
        xml,
    })
}

fn check_item_code(code: &str) -> Result<(), String> {
    if code.is_empty() {
        return Err("the item has no code".to_owned());
    }
    if code.starts_with('#') {
        return Err(
            "an item code must not start with `#` (`#` lines belong before the header row)"
                .to_owned(),
        );
    }
    if code.chars().any(char::is_whitespace) {
        return Err(format!("item code {code:?} contains a space"));
    }
    Ok(())
}

/// ASCII digits only: no sign, no spaces, no full-width digits.
fn parse_u16(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `-?[0-9]+(\.[0-9]+)?`: the only way range bounds are written, so that every reader of a
/// profile (and every spreadsheet locale) agrees on their value.
pub(crate) fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && frac.is_none_or(all_digits)
}

/// Codes of a code list: short ASCII identifiers, so that `=` and `;` never occur in them.
pub(crate) fn is_term_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 16
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Parses `1=－;2=±;3=＋`: entries separated by `;`, each `code=term`; in terms `\;` stands
/// for `;` and `\\` for `\`. The code is everything before the first `=`.
fn parse_code_list(cell: &str) -> Result<Vec<CodeTerm>, String> {
    let mut terms: Vec<CodeTerm> = Vec::new();
    for (n, entry) in split_list(cell)?.into_iter().enumerate() {
        let n = n + 1;
        let Some((code, term)) = entry.split_once('=') else {
            return Err(format!("entry {n} {entry:?} has no `=` (write code=term)"));
        };
        if !is_term_code(code) {
            return Err(format!(
                "entry {n}: code {code:?} must be 1–16 ASCII letters, digits, `-`, `.` or `_`"
            ));
        }
        if term.is_empty() {
            return Err(format!("entry {n}: code {code} has no term"));
        }
        if terms.iter().any(|t| t.code == code) {
            return Err(format!("entry {n}: code {code} appears twice"));
        }
        terms.push(CodeTerm {
            code: code.to_owned(),
            term: term.to_owned(),
        });
    }
    Ok(terms)
}

fn format_code_list(terms: &[CodeTerm]) -> String {
    let entries: Vec<String> = terms
        .iter()
        .map(|t| format!("{}={}", t.code, t.term))
        .collect();
    join_list(&entries)
}

/// Splits a `;`-separated list with `\;` and `\\` escapes; an empty cell is an empty list.
fn split_list(cell: &str) -> Result<Vec<String>, String> {
    if cell.is_empty() {
        return Ok(Vec::new());
    }
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ (';' | '\\')) => current.push(escaped),
                Some(other) => {
                    return Err(format!(
                        "`\\{other}` is not an escape: write `\\;` for `;` and `\\\\` for `\\`"
                    ))
                }
                None => return Err("the cell ends with a lone `\\` (write `\\\\`)".to_owned()),
            },
            ';' => entries.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    entries.push(current);
    if let Some(n) = entries.iter().position(String::is_empty) {
        return Err(format!(
            "entry {} is empty (two `;` in a row, or a `;` at either end)",
            n + 1
        ));
    }
    Ok(entries)
}

/// Joins entries with `;`, escaping `;` and `\` inside them.
fn join_list(entries: &[String]) -> String {
    let mut out = String::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        for c in entry.chars() {
            if matches!(c, ';' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &str) -> Result<Vec<String>, CellError> {
        split_cells(line.as_bytes(), false)
    }

    #[test]
    fn cells_split_with_rfc4180_quoting() {
        assert_eq!(cells("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(cells("").unwrap(), [""]);
        assert_eq!(cells("a,").unwrap(), ["a", ""]);
        assert_eq!(
            cells(r#""x,y","say ""hi""","""""#).unwrap(),
            ["x,y", r#"say "hi""#, r#"""#]
        );
        assert_eq!(cells("身長,cm").unwrap(), ["身長", "cm"]);
    }

    #[test]
    fn malformed_cells_name_their_index() {
        assert_eq!(cells(r#"a,b"c"#).unwrap_err().cell, 1);
        assert_eq!(cells(r#"a,"b"c"#).unwrap_err().cell, 1);
        assert_eq!(cells(r#"a,b,"open"#).unwrap_err().cell, 2);
        assert_eq!(cells("a,b\tc").unwrap_err().cell, 1);
        assert_eq!(cells("a,\"b\nc\"").unwrap_err().cell, 1);
        assert_eq!(split_cells(b"a,\"b\nc\"", true).unwrap(), ["a", "b\nc"]);
        let sjis = [b'a', b',', 0x90, 0x67]; // 身 in Shift_JIS
        let err = split_cells(&sjis, false).unwrap_err();
        assert_eq!(err.cell, 1);
        assert!(err.message.contains("UTF-8"), "{}", err.message);
    }

    #[test]
    fn cell_index_at_end_counts_unquoted_commas() {
        assert_eq!(cell_index_at_end(b""), 0);
        assert_eq!(cell_index_at_end(b"a,b,c"), 2);
        assert_eq!(cell_index_at_end(br#"a,"b,c""d",e"#), 2);
        assert_eq!(cell_index_at_end(br#"a,"b,c"#), 1);
    }

    #[test]
    fn spreadsheet_letters() {
        let letters: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702]
            .into_iter()
            .map(spreadsheet_letter)
            .collect();
        assert_eq!(
            letters,
            ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]
        );
    }

    #[test]
    fn decimals() {
        for ok in ["0", "100", "0.5", "-3", "1.006", "-0.25"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            ".5",
            "5.",
            "1e3",
            "+1",
            " 1",
            "1 ",
            "１００",
            "1,000",
            "1.2.3",
            "NaN",
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn lists_escape_semicolons_and_backslashes() {
        let entries = vec!["a;b".to_owned(), r"c\d".to_owned(), "=".to_owned()];
        let joined = join_list(&entries);
        assert_eq!(joined, r"a\;b;c\\d;=");
        assert_eq!(split_list(&joined).unwrap(), entries);
        assert_eq!(split_list("").unwrap(), Vec::<String>::new());
        assert!(split_list("a;;b").is_err());
        assert!(split_list("a;").is_err());
        assert!(split_list(r"a\b").is_err());
        assert!(split_list(r"a\").is_err());
    }

    #[test]
    fn code_lists_parse_and_print() {
        let terms = parse_code_list("1=－;2=±;3=a=b;4=x\\;y").unwrap();
        assert_eq!(terms.len(), 4);
        assert_eq!(terms[2].term, "a=b");
        assert_eq!(terms[3].term, "x;y");
        assert_eq!(format_code_list(&terms), "1=－;2=±;3=a=b;4=x\\;y");
        assert!(parse_code_list("1=a;1=b").unwrap_err().contains("twice"));
        assert!(parse_code_list("1").unwrap_err().contains("no `=`"));
        assert!(parse_code_list("1=").unwrap_err().contains("no term"));
        assert!(parse_code_list(" 1=a").unwrap_err().contains("code"));
        assert!(parse_code_list("１=a").is_err());
    }
}
