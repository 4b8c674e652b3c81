//! CSV (RFC 4180: comma-separated, double quotes, CRLF; UTF-8) with cells that a
//! spreadsheet would run as formulas neutralised.

use super::{COLUMNS, Sheet};

/// A cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so
/// spreadsheets show it as text instead of evaluating it (CSV injection).
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// Renders the sheet.
pub fn render(sheet: &Sheet) -> anyhow::Result<Vec<u8>> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    for row in &sheet.rows {
        writer.write_record(row.cells().iter().map(|c| neutralise(c)))?;
    }
    writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_cells_are_neutralised() {
        for risky in ["=SUM(A1:A2)", "+1", "-2", "@cmd", "\tx", "\rx"] {
            assert!(neutralise(risky).starts_with('\''), "{risky:?}");
        }
        assert_eq!(neutralise("plain = text"), "plain = text");
    }
}
