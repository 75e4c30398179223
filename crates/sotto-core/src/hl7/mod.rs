//! HL7 v2: messages read from their wire form (`parse.rs`), scheduling and registration
//! messages mapped to ingestion calls with everything clinical dropped (`map.rs`), and the
//! acknowledgements that answer them (`ack.rs`). MLLP framing is the edge's.

pub mod ack;
pub mod map;
pub mod parse;

pub use ack::{AckCode, AckNote, acknowledge};
pub use map::{Header, Hl7Settings, MapError, Mapped, header, map, parse_dtm};
pub use parse::{Encoding, Message, ParseError};
