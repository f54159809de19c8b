//! SQLite WAL checkpoints on a thread of their own.
//!
//! Left to itself, SQLite checkpoints inside the committing connection: the writer would copy
//! the log back into the database file (and fsync it) every few batches. Here a second thread
//! with its own connection does that work on the other core while the writer keeps committing.
//! PASSIVE checkpoints never block the writer; if the log still grows past a bound, a RESTART
//! checkpoint briefly waits for the writer so the log can start over.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::db::Conn;

/// How often the checkpointer looks at the log.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// Log frames (pages) beyond which the checkpointer makes the log restart: 256 MiB of 4 KiB
/// pages.
const WAL_FRAMES_RESTART: i64 = 65_536;

#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: PathBuf) -> Result<Checkpointer, crate::StoreError> {
        let mut conn = Conn::open_sqlite(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("cashless-checkpoint".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                    if let Err(error) = checkpoint(&mut conn) {
                        tracing::warn!(%error, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|error| {
                crate::StoreError::Internal(format!("cannot start the checkpointer: {error}"))
            })?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn checkpoint(conn: &mut Conn) -> Result<(), crate::DbError> {
    let row = conn.query_opt("PRAGMA wal_checkpoint(PASSIVE)", &[])?;
    let log_frames = row.map(|row| row.int(1)).transpose()?.unwrap_or(0);
    if log_frames > WAL_FRAMES_RESTART {
        // Without waiting for readers: while RESTART waits it blocks new writers, and a long
        // read (an audit's snapshot) would make every payment wait behind it. Busy now, it is
        // tried again at the next tick.
        conn.batch_execute("PRAGMA busy_timeout = 0")?;
        let restarted = conn.query_opt("PRAGMA wal_checkpoint(RESTART)", &[]);
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}",
            crate::db::SQLITE_BUSY_TIMEOUT.as_millis()
        ))?;
        restarted?;
    }
    Ok(())
}
