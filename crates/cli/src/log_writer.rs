//! Log lines written to stderr by a thread of their own.
//!
//! Every request logs one line. Written straight to stderr, that is a `write` system call on
//! the request's path, one per line; here the request's thread only hands the formatted line
//! over, and the log thread writes whatever has queued up in one buffered write. Nothing is
//! dropped: when the log thread falls behind by `QUEUE_LINES`, loggers wait for it.
//! [`FlushGuard`] makes sure every line is out before the process ends.

use std::io::{BufWriter, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

/// Lines that may wait for the log thread before a logger has to wait.
const QUEUE_LINES: usize = 65_536;

/// How long the end of the process waits for the log thread to write what is queued.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// A `tracing_subscriber` writer: each event's formatted text goes to the log thread.
#[derive(Clone, Debug)]
pub struct LogWriter {
    sender: SyncSender<Message>,
}

/// Writes out every queued line when dropped (at the end of `main`).
#[derive(Debug)]
pub struct FlushGuard {
    sender: SyncSender<Message>,
}

/// Starts the log thread; keep the guard alive for as long as anything logs.
pub fn start() -> std::io::Result<(LogWriter, FlushGuard)> {
    let (sender, receiver) = mpsc::sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("cashless-log".into())
        .spawn(move || run(&receiver))?;
    Ok((
        LogWriter {
            sender: sender.clone(),
        },
        FlushGuard { sender },
    ))
}

fn run(receiver: &Receiver<Message>) {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stderr());
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                // A failed write to stderr has nowhere to be reported.
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = receiver.try_recv().ok();
        }
        let _ = out.flush();
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let (done, written) = mpsc::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// One event's text, handed to the log thread when the formatter is done with it.
#[derive(Debug)]
pub struct Line {
    text: Vec<u8>,
    sender: SyncSender<Message>,
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
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            // The log thread only stops with the process.
            let _ = self.sender.send(Message::Line(text));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            text: Vec::with_capacity(256),
            sender: self.sender.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_reaches_the_log_thread_as_one_line_in_order() {
        let (sender, receiver) = mpsc::sync_channel(4);
        let writer = LogWriter { sender };
        for text in ["one\n", "two\n"] {
            let mut line = tracing_subscriber::fmt::MakeWriter::make_writer(&writer);
            line.write_all(text.as_bytes()).unwrap();
        }
        let texts: Vec<Vec<u8>> = receiver
            .try_iter()
            .map(|message| match message {
                Message::Line(text) => text,
                Message::Flush(_) => Vec::new(),
            })
            .collect();
        assert_eq!(texts, [b"one\n".to_vec(), b"two\n".to_vec()]);
    }
}
