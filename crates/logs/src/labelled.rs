//! Flows with their ground-truth labels (IoT-23), for scoring detections flow by flow.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use rampart_core::FlowRecord;

use crate::LogFormat;
use crate::error::{LineError, OpenError};
use crate::reader::{Label, LogReader, Options, Parsed, Summary};

/// A flow and its label; the flow's `uid` ties it to detections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledFlow {
    /// The flow, exactly as [`LogReader`] reads it.
    pub flow: FlowRecord,
    /// Its label.
    pub label: Label,
}

/// Streams labelled flows from IoT-23 files: the CSV rewrites (`label` and `detailed-label`
/// columns) or the original `conn.log.labeled` Zeek TSV. A flow row without a readable label is
/// a [`LineError`]; rows of other record kinds are passed over.
#[derive(Debug)]
pub struct LabelledFlows<R> {
    inner: LogReader<R>,
}

impl LabelledFlows<BufReader<File>> {
    /// Opens a labelled flow file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| OpenError::Io {
            name: name.clone(),
            source,
        })?;
        Self::from_reader(BufReader::with_capacity(1 << 16, file), &name)
    }
}

impl<R: BufRead> LabelledFlows<R> {
    /// Reads labelled flows from any buffered source.
    pub fn from_reader(reader: R, name: &str) -> Result<Self, OpenError> {
        let inner = LogReader::build(reader, name, &Options::default(), true)?;
        match inner.format() {
            Some(format @ (LogFormat::SuricataEve | LogFormat::ZeekJson)) => {
                Err(OpenError::Unlabelled {
                    name: name.to_owned(),
                    format,
                })
            }
            _ => Ok(Self { inner }),
        }
    }

    /// Counts so far.
    pub fn summary(&self) -> &Summary {
        self.inner.summary()
    }
}

impl<R: BufRead> Iterator for LabelledFlows<R> {
    type Item = Result<LabelledFlow, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            return Some(match self.inner.next_parsed()? {
                Ok(Parsed::Labelled(flow, label)) => Ok(LabelledFlow { flow, label }),
                Ok(_) => continue,
                Err(error) => Err(error),
            });
        }
    }
}
