use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};
use serde_json::Value;

use super::{download, export, seeded_session};
use crate::support::TestApp;

pub const COLUMNS: [&str; 10] = [
    "No.",
    "Question",
    "Answer",
    "Difficulty",
    "Category",
    "Pinned",
    "Notes",
    "Created",
    "Last score",
    "Next review",
];

/// The expected cells of each question, in list order.
fn expected(questions: &[Value]) -> Vec<[String; 7]> {
    questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let s = |k: &str| q[k].as_str().unwrap().to_owned();
            [
                (i + 1).to_string(),
                s("question"),
                s("answer"),
                s("difficulty"),
                s("category"),
                if q["is_pinned"] == true { "yes" } else { "no" }.to_owned(),
                s("notes"),
            ]
        })
        .collect()
}

/// Exports in `format`, checks the job and the download's headers; returns the bytes.
async fn exported(app: &TestApp, token: &str, sid: &str, format: &str, count: usize) -> Vec<u8> {
    let job = export(app, token, sid, format).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    assert_eq!(result["format"], format);
    assert_eq!(result["question_count"], count);
    let url = result["download_url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=900"),
        "{url}"
    );
    assert!(result["expires_at"].is_string());
    let resp = download(url).await;
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    assert!(disposition.contains(&format!(".{format}")), "{disposition}");
    let bytes = resp.bytes().await.unwrap().to_vec();
    assert_eq!(result["size_bytes"], bytes.len());
    bytes
}

#[tokio::test]
async fn xlsx_holds_every_question_with_its_cells() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let (sid, questions) = seeded_session(&app, &me.access).await;
    let bytes = exported(&app, &me.access, &sid, "xlsx", questions.len()).await;

    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range("Questions").unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    assert_eq!(rows[0][0], "Interview questions: Développeur Backend");
    assert!(
        rows[1..4]
            .iter()
            .any(|r| r[0] == "Topics" && r[1] == "Rust, 日本語")
    );
    let header = rows
        .iter()
        .position(|r| r.first().map(String::as_str) == Some("No."))
        .unwrap();
    assert_eq!(rows[header][..10], COLUMNS.map(str::to_owned));
    let body = &rows[header + 1..];
    assert_eq!(body.len(), questions.len());
    for (row, want) in body.iter().zip(expected(&questions)) {
        assert_eq!(row[..7], want);
        assert!(row[7].ends_with("UTC"), "created: {}", row[7]);
    }
    // The formula-like answer is a string cell, not a formula.
    assert!(body.iter().any(|r| r[2].starts_with("=SUM(A1:A2)")));
}

#[tokio::test]
async fn csv_is_rfc_4180_utf8_and_neutralises_formulas() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let (sid, questions) = seeded_session(&app, &me.access).await;
    let bytes = exported(&app, &me.access, &sid, "csv", questions.len()).await;
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(text.contains("\r\n"), "CRLF line endings");

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        COLUMNS
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), questions.len());
    for (row, want) in rows.iter().zip(expected(&questions)) {
        for (i, want) in want.iter().enumerate() {
            let got = &row[i];
            if want.starts_with(['=', '+', '-', '@']) {
                assert_eq!(got, format!("'{want}"), "neutralised");
            } else {
                assert_eq!(got, want);
            }
        }
    }
}

/// Text with every whitespace removed (line breaks land anywhere in a laid-out page).
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[tokio::test]
async fn pdf_text_holds_every_question_and_answer() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let (sid, questions) = seeded_session(&app, &me.access).await;
    let bytes = exported(&app, &me.access, &sid, "pdf", questions.len()).await;
    assert!(bytes.starts_with(b"%PDF-"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.pdf");
    std::fs::write(&path, &bytes).unwrap();
    // -raw: content-stream order (the colour emoji's bitmap glyph confuses the layout mode).
    let out = std::process::Command::new("pdftotext")
        .arg("-raw")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by scripts/stack.sh");
    assert!(out.status.success());
    // Page footers ("1 / 2") sit between the lines of a question that spans pages.
    let text: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| {
            let compact = squeeze(line);
            let parts: Vec<&str> = compact.split('/').collect();
            !(parts.len() == 2 && parts.iter().all(|p| p.parse::<u32>().is_ok()))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = squeeze(&text);
    assert!(text.contains(&squeeze("Interview questions: Développeur Backend")));
    for q in &questions {
        for field in ["question", "answer", "notes"] {
            let want = squeeze(q[field].as_str().unwrap());
            assert!(text.contains(&want), "{field} {want:?} not in the PDF text");
        }
    }
}

/// The text runs of a DOCX's main document, joined.
fn docx_text(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    let mut out = String::new();
    let mut rest = xml.as_str();
    while let Some(start) = rest.find("<w:t") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        if after[..open_end].ends_with('/') {
            rest = &after[open_end + 1..];
            continue;
        }
        let body = &after[open_end + 1..];
        let close = body.find("</w:t>").unwrap();
        out.push_str(&body[..close]);
        out.push('\n');
        rest = &body[close..];
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn docx_holds_every_question_answer_and_note() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let (sid, questions) = seeded_session(&app, &me.access).await;
    let bytes = exported(&app, &me.access, &sid, "docx", questions.len()).await;
    let text = docx_text(&bytes);
    assert!(text.contains("Interview questions: Développeur Backend"));
    for (i, q) in questions.iter().enumerate() {
        let heading = format!("{}. {}", i + 1, q["question"].as_str().unwrap());
        assert!(text.contains(&heading), "{heading:?} not in the document");
        assert!(text.contains(q["answer"].as_str().unwrap()));
        let notes = q["notes"].as_str().unwrap();
        assert!(notes.is_empty() || text.contains(notes));
    }
}
