//! Prints the OpenAPI document (`scripts/update-openapi.sh` writes it to docs/openapi.json).

use std::io::Write;

fn main() -> std::io::Result<()> {
    std::io::stdout().write_all(api::openapi_json().as_bytes())
}
