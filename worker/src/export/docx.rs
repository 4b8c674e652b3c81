//! DOCX with docx-rs: a title, the session's details, then each question with its answer,
//! details and notes. docx-rs escapes text itself; Word and LibreOffice pick fonts for any
//! script when the document is opened.

use docx_rs::{Docx, Paragraph, Run, Style, StyleType};

use super::Sheet;

fn heading(id: &str, name: &str, size: usize) -> Style {
    Style::new(id, StyleType::Paragraph)
        .name(name)
        .bold()
        .size(size)
}

/// Renders the sheet.
pub fn render(sheet: &Sheet) -> anyhow::Result<Vec<u8>> {
    let mut doc = Docx::new()
        .add_style(heading("Heading1", "Heading 1", 36))
        .add_style(heading("Heading2", "Heading 2", 26))
        .add_paragraph(
            Paragraph::new()
                .style("Heading1")
                .add_run(Run::new().add_text(&sheet.title)),
        );
    for (name, value) in sheet.details() {
        doc = doc.add_paragraph(
            Paragraph::new()
                .add_run(Run::new().bold().add_text(format!("{name}: ")))
                .add_run(Run::new().add_text(value)),
        );
    }
    for row in &sheet.rows {
        let meta = row.meta();
        doc = doc
            .add_paragraph(
                Paragraph::new()
                    .style("Heading2")
                    .add_run(Run::new().add_text(format!("{}. {}", row.no, row.question))),
            )
            .add_paragraph(Paragraph::new().add_run(Run::new().add_text(&row.answer)))
            .add_paragraph(Paragraph::new().add_run(Run::new().italic().size(18).add_text(meta)));
        if !row.notes.is_empty() {
            doc = doc.add_paragraph(
                Paragraph::new()
                    .add_run(Run::new().bold().add_text("Notes: "))
                    .add_run(Run::new().add_text(&row.notes)),
            );
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    doc.build()
        .pack(&mut out)
        .map_err(|e| anyhow::anyhow!("writing the document: {e}"))?;
    Ok(out.into_inner())
}
