//! XLSX with rust_xlsxwriter in constant-memory mode: a title block, a bold frozen header
//! with an autofilter, wrapped text, and pinned rows highlighted.

use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook};

use super::{COLUMNS, Sheet};

/// The score's column (a number; every other cell is text).
fn score_column() -> u16 {
    u16::try_from(COLUMNS.iter().position(|c| *c == "Last score").unwrap_or(0)).unwrap_or(0)
}

/// Column widths, in characters.
const WIDTHS: [f64; 10] = [6.0, 50.0, 80.0, 11.0, 18.0, 8.0, 40.0, 19.0, 11.0, 12.0];
/// Rows before the header (title, three details, a blank line).
const HEADER_ROW: u32 = 5;

/// Renders the sheet (rows are written in order, so memory stays flat for any size).
pub fn render(sheet: &Sheet) -> anyhow::Result<Vec<u8>> {
    let mut workbook = Workbook::new();
    workbook.set_tempdir(std::env::temp_dir())?;
    let ws = workbook.add_worksheet_with_constant_memory()?;
    ws.set_name("Questions")?;
    for (col, width) in (0u16..).zip(WIDTHS) {
        ws.set_column_width(col, width)?;
    }
    let title = Format::new().set_bold().set_font_size(14);
    let label = Format::new().set_bold();
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0x00D9_E1F2))
        .set_border_bottom(FormatBorder::Thin);
    let cell = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let pinned = cell.clone().set_background_color(Color::RGB(0x00FF_F2CC));

    ws.write_string_with_format(0, 0, &sheet.title, &title)?;
    for (row, (name, value)) in (1u32..).zip(sheet.details()) {
        ws.write_string_with_format(row, 0, name, &label)?;
        ws.write_string(row, 1, value)?;
    }
    for (col, name) in (0u16..).zip(COLUMNS) {
        ws.write_string_with_format(HEADER_ROW, col, name, &header)?;
    }
    for (row, r) in (HEADER_ROW + 1..).zip(&sheet.rows) {
        let format = if r.pinned { &pinned } else { &cell };
        ws.write_number_with_format(row, 0, r.no as f64, format)?;
        let cells = r.cells();
        for (col, value) in (1u16..).zip(cells.iter().skip(1)) {
            if col != score_column() {
                ws.write_string_with_format(row, col, value, format)?;
            }
        }
        match r.last_score {
            Some(score) => {
                ws.write_number_with_format(row, score_column(), f64::from(score), format)?
            }
            None => ws.write_blank(row, score_column(), format)?,
        };
    }
    let last = HEADER_ROW + u32::try_from(sheet.rows.len()).unwrap_or(u32::MAX - HEADER_ROW);
    ws.set_freeze_panes(HEADER_ROW + 1, 0)?;
    let last_column = u16::try_from(COLUMNS.len() - 1).unwrap_or(u16::MAX);
    ws.autofilter(HEADER_ROW, 0, last, last_column)?;
    Ok(workbook.save_to_buffer()?)
}
