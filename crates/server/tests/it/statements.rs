//! Every SQL statement in the code that names a table whose changes the store watches
//! (credentials, the writer's cached rows) is one whose effect the store reads exactly: a new
//! statement shape it would only guess at fails here, not silently in a revocation.

use std::path::{Path, PathBuf};

use cashless_outbox::Outbox;
use cashless_payments::Payments;
use cashless_store::TableRoles;
use cashless_wallet::Wallet;

const ROLES: [TableRoles; 3] = [Wallet::TABLES, Payments::TABLES, Outbox::TABLES];

/// The string literals of a Rust source, with escapes and line continuations applied.
fn literals(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => i += 3, // '"'
            '"' => {
                let mut text = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                        match chars.get(i) {
                            Some('\n') => {
                                while chars.get(i + 1).is_some_and(|c| c.is_whitespace()) {
                                    i += 1;
                                }
                            }
                            Some('n') => text.push('\n'),
                            Some(&c) => text.push(c),
                            None => {}
                        }
                    } else {
                        text.push(chars[i]);
                    }
                    i += 1;
                }
                found.push(text);
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn sources(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

fn names(sql: &str, table: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word.eq_ignore_ascii_case(table))
}

#[test]
fn every_statement_in_the_code_is_classified() {
    let watched: Vec<&str> = ROLES
        .iter()
        .flat_map(|roles| roles.credentials.iter().chain(roles.cached))
        .copied()
        .collect();
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    let mut statements = 0;
    let mut guessed = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        // Unit tests feed the classifier odd shapes on purpose.
        let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for sql in literals(code) {
            let first = sql
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let statement = [
                "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "REPLACE", "CREATE", "ALTER",
                "DROP",
            ]
            .contains(&first.as_str());
            if !statement || !watched.iter().any(|table| names(&sql, table)) {
                continue;
            }
            statements += 1;
            if !cashless_store::classified_exactly(&sql) {
                guessed.push(format!("{}: {sql}", file.display()));
            }
        }
    }
    // The scan itself works: it finds the statements that change credentials and merchants.
    assert!(statements > 30, "only {statements} statements found");
    assert!(
        guessed.is_empty(),
        "statements naming a watched table ({watched:?}) in a shape the store cannot read \
         exactly:\n{}",
        guessed.join("\n")
    );
}

#[test]
fn literals_are_read_as_the_compiler_reads_them() {
    let source = "let a = \"UPDATE users \\\n     SET x = 1\"; // \"not\" this\nlet c = '\"';";
    assert_eq!(literals(source), vec!["UPDATE users SET x = 1".to_owned()]);
}
