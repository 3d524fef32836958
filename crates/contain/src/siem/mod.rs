//! SIEM export: CEF events in RFC 5424 syslog over UDP or TCP (RFC 6587 octet counting), and
//! JSON lines.

pub mod cef;
mod jsonl;
mod sender;
pub mod syslog;

pub use cef::CefEvent;
pub use jsonl::JsonLines;
pub use sender::{SiemError, SyslogSender, SyslogTransport};
pub use syslog::SyslogFormatter;
