//! Pipelined durability for SQLite: the writer commits without waiting for the disk, and this
//! thread makes the log durable and only then answers the callers.
//!
//! The writer's connection runs with `synchronous=NORMAL`: COMMIT appends the batch's frames to
//! the write-ahead log (the OS page cache) and returns. The writer hands the batch's answers
//! here and starts on the next batch. This thread takes every batch handed over so far, calls
//! `fdatasync` on the log, and then answers all of them: one fsync covers every batch
//! committed before it began, and the fsync overlaps the next batch's work instead of
//! following it. No caller hears "done" before its batch is on disk.
//!
//! Frames are never lost between commit and sync except by an operating-system crash or power
//! loss (the page cache survives the process), and those batches were never acknowledged. A
//! checkpoint that copies unsynced frames into the database syncs the log first (SQLite does
//! so in WAL mode), so the log restarting cannot lose them either.
//!
//! If `fdatasync` fails, the platform cannot know what reached the disk: the store stops
//! accepting writes (see PostgreSQL's "fsyncgate" for why retrying is wrong).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Instant;

use crate::StoreError;
use crate::published::{Deliver, Shared};

#[derive(Debug)]
pub(crate) struct Syncer {
    sender: Option<mpsc::Sender<Vec<Deliver>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    /// Starts syncing the write-ahead log of the SQLite database at `database`.
    pub fn start(database: &std::path::Path, shared: Arc<Shared>) -> Result<Syncer, StoreError> {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cashless-sync".into())
            .spawn(move || run(&wal, &receiver, &shared))
            .map_err(|error| StoreError::Internal(format!("cannot start the syncer: {error}")))?;
        Ok(Syncer {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Hands over a committed batch's answers, to be given once the log is on disk.
    pub fn submit(&self, deliveries: Vec<Deliver>) -> Result<(), Vec<Deliver>> {
        match &self.sender {
            Some(sender) => sender.send(deliveries).map_err(|failed| failed.0),
            None => Err(deliveries),
        }
    }
}

impl Drop for Syncer {
    /// Answers everything handed over, then stops.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(wal: &std::path::Path, receiver: &mpsc::Receiver<Vec<Deliver>>, shared: &Shared) {
    let mut file: Option<File> = None;
    while let Ok(mut waiting) = receiver.recv() {
        while let Ok(more) = receiver.try_recv() {
            waiting.extend(more);
        }
        let outcome = if shared.poisoned.load(Ordering::Relaxed) {
            // After one failed fsync nothing more is ever confirmed: Linux reports a lost
            // writeback once, so a later fsync can succeed over pages that never reached the
            // disk, and the log's recovery would stop at that hole anyway.
            Some(unconfirmed())
        } else {
            let started = Instant::now();
            let synced = sync(wal, &mut file);
            shared
                .sync_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            shared.syncs.fetch_add(1, Ordering::Relaxed);
            match synced {
                Ok(()) => None,
                Err(error) => {
                    tracing::error!(%error, wal = %wal.display(), "fdatasync of the write-ahead log failed; refusing all further writes");
                    shared.poisoned.store(true, Ordering::Relaxed);
                    Some(unconfirmed())
                }
            }
        };
        for deliver in waiting {
            deliver(outcome.clone());
        }
    }
}

fn unconfirmed() -> StoreError {
    StoreError::Internal("the disk failed to confirm the write; its outcome is unknown".into())
}

fn sync(wal: &std::path::Path, file: &mut Option<File>) -> std::io::Result<()> {
    let file = match file {
        Some(file) => file,
        None => file.insert(OpenOptions::new().write(true).open(wal)?),
    };
    file.sync_data()
}
