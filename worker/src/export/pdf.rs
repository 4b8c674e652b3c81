//! PDF through Typst used as a library: real layout (wrapping, pagination) and per-glyph
//! font fallback. User text reaches the template as JSON data, never as markup. Fonts: the
//! bundled DejaVu Sans (Latin, Greek, Cyrillic, symbols) plus whatever the configured font
//! directories hold (on Debian `fonts-noto-cjk` and `fonts-noto-color-emoji`); a character
//! no font has is drawn as a placeholder box, never an error.

use std::{
    path::{Path, PathBuf},
    sync::LazyLock,
};

use typst::{
    Library, LibraryExt, World,
    diag::{FileError, FileResult},
    foundations::{Bytes, Datetime},
    syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot},
    text::{Font, FontBook},
    utils::LazyHash,
};
use typst_layout::PagedDocument;

use super::Sheet;

const TEMPLATE: &str = r##"
#let data = json("data.json")
#set document(title: data.title)
#set page(
  paper: "a4",
  margin: (x: 2cm, y: 2cm),
  footer: context align(center, text(size: 8pt, fill: gray, counter(page).display("1 / 1", both: true))),
)
#set text(font: ("DejaVu Sans", "Noto Sans CJK SC", "Noto Color Emoji"), size: 10pt)
#text(size: 16pt, weight: "bold", data.title)
#v(0.3em)
#for d in data.details [
  #text(weight: "bold", d.at(0) + ": ")#d.at(1) \
]
#line(length: 100%, stroke: 0.5pt + gray)
#for r in data.rows [
  #block(breakable: true, above: 1.1em, below: 0.4em, width: 100%,
    fill: if r.pinned { rgb("#fff7d6") } else { none }, inset: if r.pinned { 4pt } else { 0pt })[
    #text(weight: "bold", str(r.no) + ". " + r.question)
    #parbreak()
    #r.answer
    #parbreak()
    #text(size: 8pt, fill: gray, r.meta)
    #if r.notes != "" [
      #parbreak()
      #text(style: "italic", "Notes: " + r.notes)
    ]
  ]
]
"##;

/// The fonts PDF exports may use, loaded once.
#[derive(Debug)]
pub struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

impl Fonts {
    /// The bundled DejaVu Sans, plus every font file under `dirs` (missing ones skipped).
    pub fn load(dirs: &[PathBuf]) -> Self {
        let mut fonts: Vec<Font> = [
            &include_bytes!("../../fonts/DejaVuSans.ttf")[..],
            &include_bytes!("../../fonts/DejaVuSans-Bold.ttf")[..],
        ]
        .into_iter()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
        for dir in dirs {
            collect(dir, &mut fonts);
        }
        let book = LazyHash::new(FontBook::from_fonts(&fonts));
        Self { book, fonts }
    }

    /// How many font faces are available.
    pub fn len(&self) -> usize {
        self.fonts.len()
    }

    /// Whether only nothing was loaded (never: DejaVu is bundled).
    pub fn is_empty(&self) -> bool {
        self.fonts.is_empty()
    }
}

fn collect(dir: &Path, fonts: &mut Vec<Font>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, fonts);
            continue;
        }
        let is_font = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "ttf" | "otf" | "ttc" | "otc"
            )
        });
        if is_font && let Ok(data) = std::fs::read(&path) {
            fonts.extend(Font::iter(Bytes::new(data)));
        }
    }
}

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

fn file_id(name: &str) -> FileId {
    RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new(name).expect("a valid virtual path"),
    )
    .intern()
}

struct ExportWorld<'a> {
    fonts: &'a Fonts,
    main: Source,
    data_id: FileId,
    data: Bytes,
}

impl World for ExportWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

#[derive(serde::Serialize)]
struct Data<'a> {
    title: &'a str,
    details: Vec<(&'static str, &'a str)>,
    rows: Vec<RowData<'a>>,
}

#[derive(serde::Serialize)]
struct RowData<'a> {
    no: usize,
    question: &'a str,
    answer: &'a str,
    notes: &'a str,
    pinned: bool,
    meta: String,
}

/// Renders the sheet.
pub fn render(sheet: &Sheet, fonts: &Fonts) -> anyhow::Result<Vec<u8>> {
    let data = Data {
        title: &sheet.title,
        details: sheet.details().to_vec(),
        rows: sheet
            .rows
            .iter()
            .map(|r| RowData {
                no: r.no,
                question: &r.question,
                answer: &r.answer,
                notes: &r.notes,
                pinned: r.pinned,
                meta: r.meta(),
            })
            .collect(),
    };
    let world = ExportWorld {
        fonts,
        main: Source::new(file_id("main.typ"), TEMPLATE.to_owned()),
        data_id: file_id("data.json"),
        data: Bytes::new(serde_json::to_vec(&data)?),
    };
    let compiled = typst::compile::<PagedDocument>(&world).output;
    let result = compiled
        .map_err(|errors| anyhow::anyhow!("laying out the PDF: {errors:?}"))
        .and_then(|document| {
            typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default())
                .map_err(|errors| anyhow::anyhow!("writing the PDF: {errors:?}"))
        });
    // Typst memoizes across compilations; a long-running worker must not keep it all.
    typst::comemo::evict(0);
    result
}
