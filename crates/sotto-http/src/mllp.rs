//! MLLP: HL7 v2 over TCP, each message framed by a vertical tab and ended by a file separator
//! and a carriage return, answered in the same framing with its acknowledgement. A frame
//! larger than a message may be, or a connection idle too long, is closed; at most so many
//! connections are served at once; nothing a sender writes stops the listener.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use sotto_app::{App, Principal, RequestCtx};
use sotto_core::hl7::parse::MAX_MESSAGE_BYTES;
use sotto_store::Store;

const START: u8 = 0x0b;
const END: u8 = 0x1c;
const CR: u8 = 0x0d;

/// The listener's limits.
#[derive(Debug, Clone)]
pub struct MllpSettings {
    /// Connections served at once.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for MllpSettings {
    fn default() -> Self {
        Self { max_connections: 64, idle_timeout: Duration::from_secs(300) }
    }
}

/// Serves MLLP on a bound listener until `shutdown` completes.
pub async fn serve<S: Store>(listener: TcpListener, app: Arc<App<S>>, settings: MllpSettings, shutdown: impl std::future::Future<Output = ()> + Send) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "MLLP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!("MLLP connection refused: too many open");
            continue;
        };
        let (app, idle) = (app.clone(), settings.idle_timeout);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, peer.ip().to_string(), app, idle).await {
                tracing::info!(reason = %e, "MLLP connection closed");
            }
        });
    }
}

/// Reads frames until the peer closes, answering each.
async fn connection<S: Store>(stream: TcpStream, ip: String, app: Arc<App<S>>, idle: Duration) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let Some(frame) = tokio::time::timeout(idle, next_frame(&mut reader)).await.map_err(|_| std::io::Error::other("idle"))?? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&frame);
        let ctx = RequestCtx { principal: Principal::system("mllp"), request_id: format!("mllp-{}", sotto_crypto::random_id(6)), source_ip: Some(ip.clone()), now: app.now() };
        let ack = match app.ingest_hl7(&ctx, &text).await {
            Ok(answer) => answer.ack,
            Err(e) => {
                tracing::error!(error = %e, "an HL7 message could not be taken");
                nak_unavailable()
            }
        };
        let mut out = Vec::with_capacity(ack.len() + 3);
        out.push(START);
        out.extend_from_slice(ack.as_bytes());
        out.extend_from_slice(&[END, CR]);
        write.write_all(&out).await?;
    }
}

/// A NAK for a message that could not be taken for a reason of Sotto's (storage down).
fn nak_unavailable() -> String {
    let header = sotto_core::hl7::Header::default();
    let note = sotto_core::hl7::AckNote { location: "MSH".into(), code: 207, severity: 'E', message: "storage is unavailable: send again later".into() };
    sotto_core::hl7::acknowledge(&header, sotto_core::hl7::AckCode::Error, &[note], "SOTTO-NAK", jiff::Timestamp::now())
}

/// The next frame's content, `None` when the peer closed between frames; bytes before a start
/// byte are skipped; a frame over the size limit ends the connection.
async fn next_frame<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut skipped = Vec::new();
    if reader.read_until(START, &mut skipped).await? == 0 || skipped.last() != Some(&START) {
        return Ok(None);
    }
    let mut frame = Vec::new();
    let limit = (MAX_MESSAGE_BYTES + 1) as u64;
    let read = (&mut *reader).take(limit).read_until(END, &mut frame).await?;
    if frame.last() != Some(&END) {
        return Err(std::io::Error::other(if read as u64 >= limit { "frame too large" } else { "connection closed inside a frame" }));
    }
    frame.pop();
    let mut cr = [0u8; 1];
    reader.read_exact(&mut cr).await?;
    if cr[0] != CR {
        return Err(std::io::Error::other("a frame did not end with a carriage return"));
    }
    Ok(Some(frame))
}
