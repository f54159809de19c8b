//! Log lines gathered in memory and written to stderr a few dozen times a second.
//!
//! Every request logs one line. Written straight to stderr, each line is a `write` system call
//! on the request's path; handed to a logging thread one by one, each would wake that thread.
//! Here a line is appended to a shared buffer (a short lock, no system call, no wake-up) and a
//! thread writes the buffer out every `FLUSH_EVERY`. Nothing is dropped: past `BUFFER_MAX`
//! the logger writes the buffer out itself, [`FlushGuard`] writes what is left when the
//! process ends, and a panic writes it out before its own message. Lost only if the process
//! is killed or aborts: at most the last `FLUSH_EVERY` of lines.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the log thread writes out what has gathered.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Bytes that may gather before a logger writes them out itself.
const BUFFER_MAX: usize = 1 << 20;

#[derive(Debug, Default)]
struct Shared {
    /// Lines not yet written.
    pending: Mutex<Vec<u8>>,
    /// Held while writing to stderr, so lines come out in the order they were logged.
    output: Mutex<()>,
}

impl Shared {
    /// Writes out every pending line.
    fn flush(&self) {
        // A panic elsewhere while a lock was held leaves the lines intact: keep writing them.
        let _output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if !pending.is_empty() {
            // A failed write to stderr has nowhere to be reported.
            let _ = std::io::stderr().lock().write_all(&pending);
        }
    }
}

impl Shared {
    /// [`Shared::flush`], unless a lock is taken (the panicking thread might hold it).
    fn flush_if_free(&self) {
        let Ok(_output) = self.output.try_lock() else {
            return;
        };
        let pending = match self.pending.try_lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        let _ = std::io::stderr().lock().write_all(&pending);
    }
}

/// A `tracing_subscriber` writer: each event's formatted text joins the pending lines.
#[derive(Clone, Debug)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes out the pending lines when dropped (at the end of `main`).
#[derive(Debug)]
pub struct FlushGuard {
    shared: Arc<Shared>,
}

/// Starts the log thread; keep the guard alive for as long as anything logs.
pub fn start() -> std::io::Result<(LogWriter, FlushGuard)> {
    let shared = Arc::new(Shared::default());
    // A panic's message comes after the lines logged before it, not ahead of them.
    let on_panic = Arc::clone(&shared);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        on_panic.flush_if_free();
        previous_hook(info);
    }));
    let flusher = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("cashless-log".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flusher.flush();
            }
        })?;
    Ok((
        LogWriter {
            shared: Arc::clone(&shared),
        },
        FlushGuard { shared },
    ))
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.flush();
    }
}

/// One event's text, added to the pending lines when the formatter is done with it.
#[derive(Debug)]
pub struct Line {
    text: Vec<u8>,
    shared: Arc<Shared>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let full = {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.extend_from_slice(&self.text);
            pending.len() >= BUFFER_MAX
        };
        if full {
            self.shared.flush();
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            text: Vec::with_capacity(256),
            shared: Arc::clone(&self.shared),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_joins_the_pending_lines_whole_and_in_order() {
        let writer = LogWriter {
            shared: Arc::new(Shared::default()),
        };
        let pending = || writer.shared.pending.lock().unwrap().clone();
        let mut one = tracing_subscriber::fmt::MakeWriter::make_writer(&writer);
        one.write_all(b"on").unwrap();
        one.write_all(b"e\n").unwrap();
        assert!(pending().is_empty(), "joins only when the event is whole");
        drop(one);
        let mut two = tracing_subscriber::fmt::MakeWriter::make_writer(&writer);
        two.write_all(b"two\n").unwrap();
        drop(two);
        assert_eq!(pending(), b"one\ntwo\n");
        writer.shared.flush();
        assert!(pending().is_empty());
    }
}
