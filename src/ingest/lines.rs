//! Reading a feed a chunk of lines at a time: blank lines skipped, a byte order mark at the
//! start accepted, a line over the length limit or one that cannot be read ends the file with
//! its error (after the lines before it, so the first fault in the file is the one reported).

use indicatif::ProgressBar;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use super::IngestError;
use crate::feed_limits as limits;

/// One non-blank line: its number in the file, its text without the line ending.
pub(super) struct Line {
    pub number: u64,
    pub text: String,
}

/// Up to a chunk's worth of lines, and how the chunk ended.
pub(super) struct Chunk {
    pub lines: Vec<Line>,
    pub end: ChunkEnd,
}

pub(super) enum ChunkEnd {
    /// The chunk is full; more may follow.
    Full,
    /// The file ended.
    Eof,
    /// A line that cannot be taken ends the file here.
    Fault(IngestError),
}

pub(super) struct LineReader<'a, R> {
    reader: R,
    name: &'a str,
    progress: &'a ProgressBar,
    number: u64,
    buffer: String,
}

impl<'a, R: AsyncBufRead + Unpin> LineReader<'a, R> {
    pub fn new(reader: R, name: &'a str, progress: &'a ProgressBar) -> Self {
        LineReader {
            reader,
            name,
            progress,
            number: 0,
            buffer: String::new(),
        }
    }

    /// The next `max_lines` non-blank lines, or fewer where the file ends or a line is at fault.
    pub async fn next_chunk(&mut self, max_lines: usize) -> Chunk {
        let mut lines = Vec::with_capacity(max_lines.min(4_096));
        while lines.len() < max_lines {
            match self.next_line().await {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => {
                    return Chunk {
                        lines,
                        end: ChunkEnd::Eof,
                    }
                }
                Err(fault) => {
                    return Chunk {
                        lines,
                        end: ChunkEnd::Fault(fault),
                    }
                }
            }
        }
        Chunk {
            lines,
            end: ChunkEnd::Full,
        }
    }

    async fn next_line(&mut self) -> Result<Option<Line>, IngestError> {
        loop {
            self.buffer.clear();
            self.number += 1;
            // One byte past the limit (and its newline) is enough to know a line is too long.
            let read = (&mut self.reader)
                .take(limits::MAX_LINE_BYTES as u64 + 1)
                .read_line(&mut self.buffer)
                .await
                .map_err(|source| IngestError::Read {
                    file: self.name.to_string(),
                    line: self.number,
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            self.progress.inc(read as u64);
            let line = &self.buffer;
            if line.strip_suffix('\n').unwrap_or(line).len() > limits::MAX_LINE_BYTES {
                return Err(IngestError::BadLine {
                    file: self.name.to_string(),
                    line: self.number,
                    reason: format!(
                        "the line is longer than {} bytes, the limit for one record",
                        limits::MAX_LINE_BYTES
                    ),
                });
            }
            let text = match self.number {
                1 => line.strip_prefix('\u{feff}').unwrap_or(line),
                _ => line,
            };
            if text.trim().is_empty() {
                continue;
            }
            return Ok(Some(Line {
                number: self.number,
                text: text.trim_end().to_string(),
            }));
        }
    }
}
