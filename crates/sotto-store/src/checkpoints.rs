//! Signed audit checkpoints on disk: one file per checkpoint in a directory outside the
//! database (by default `audit-checkpoints/` beside the data), created once and never
//! rewritten, so an operator can ship the directory to write-once storage.

use std::io::Write;
use std::path::{Path, PathBuf};

use sotto_crypto::{Checkpoint, CheckpointVerifier, SignedCheckpoint};

/// A problem with the checkpoint directory or a file in it.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The directory or a file could not be read or written.
    #[error("checkpoint directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not a checkpoint, or its signature is not the master key's.
    #[error("checkpoint file {0} is malformed or not signed by this deployment's master key: it was altered or does not belong here")]
    Forged(PathBuf),
}

/// A directory of checkpoint files.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    path: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_owned(), source }
}

impl CheckpointDir {
    /// The directory at `path`, created (owner-only) when missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let path = path.into();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(io(&path))?;
        Ok(Self { path })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a checkpoint as a new file, whole or not at all: it is written to a temporary
    /// name, synced, then linked to its final name (which fails if it exists, leaving the
    /// checkpoint already there as it is), and the directory synced.
    pub fn write(&self, signed: &SignedCheckpoint) -> Result<(), CheckpointError> {
        let c = &signed.checkpoint;
        let file = self.path.join(format!("{:020}.checkpoint", c.seq));
        // A name of its own for each write: two writers of one process (the periodic one and the
        // last one at shutdown) may sign the same head at once.
        let temporary = self.path.join(format!(".{:020}.{}.{}.tmp", c.seq, std::process::id(), sotto_crypto::random_id(6)));
        let text = format!("sotto-audit-checkpoint v1\nseq {}\nhash {}\nat {}\nsignature {}\n", c.seq, hex::encode(&c.hash), c.at_micros, hex::encode(signed.signature));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&temporary).and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
        let linked = written.and_then(|()| std::fs::hard_link(&temporary, &file));
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => std::fs::File::open(&self.path).and_then(|d| d.sync_all()).map_err(io(&self.path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io(&file)(e)),
        }
    }

    /// Every checkpoint, each signature checked, in sequence order.
    pub fn load(&self, verifier: &CheckpointVerifier) -> Result<Vec<Checkpoint>, CheckpointError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(io(&self.path))? {
            let entry = entry.map_err(io(&self.path))?;
            let file = entry.path();
            if file.extension().is_none_or(|e| e != "checkpoint") {
                continue;
            }
            let text = std::fs::read_to_string(&file).map_err(io(&file))?;
            let signed = parse(&text).filter(|s| verifier.verify(s)).ok_or_else(|| CheckpointError::Forged(file.clone()))?;
            out.push(signed.checkpoint);
        }
        out.sort_by_key(|c| c.seq);
        Ok(out)
    }

    /// The newest checkpoint's sequence number, 0 when there is none (signatures unchecked:
    /// the writer only needs to know where it left off).
    pub fn last_seq(&self) -> Result<i64, CheckpointError> {
        let mut last = 0;
        for entry in std::fs::read_dir(&self.path).map_err(io(&self.path))? {
            let name = entry.map_err(io(&self.path))?.file_name();
            if let Some(seq) = name.to_str().and_then(|n| n.strip_suffix(".checkpoint")).and_then(|n| n.parse::<i64>().ok()) {
                last = last.max(seq);
            }
        }
        Ok(last)
    }
}

fn parse(text: &str) -> Option<SignedCheckpoint> {
    let mut lines = text.lines();
    if lines.next()? != "sotto-audit-checkpoint v1" {
        return None;
    }
    let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned);
    let seq = field("seq")?.parse().ok()?;
    let hash = hex::decode(field("hash")?).ok()?;
    let at_micros = field("at")?.parse().ok()?;
    let signature: [u8; 64] = hex::decode(field("signature")?).ok()?.try_into().ok()?;
    Some(SignedCheckpoint { checkpoint: Checkpoint { seq, hash, at_micros }, signature })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_crypto::MasterKey;

    #[test]
    fn checkpoints_round_trip_and_an_edited_file_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let checkpoints = CheckpointDir::open(dir.path().join("cp")).expect("open");
        let signer = MasterKey::generate().checkpoint_signer();
        let one = Checkpoint { seq: 7, hash: vec![1; 32], at_micros: 5 };
        checkpoints.write(&signer.sign(one.clone())).expect("write");
        checkpoints.write(&signer.sign(Checkpoint { seq: 7, hash: vec![2; 32], at_micros: 6 })).expect("a second write of seq 7 is ignored");
        assert_eq!(checkpoints.load(&signer.verifier()).expect("load"), vec![one]);
        assert_eq!(checkpoints.last_seq().expect("last"), 7);
        let file = dir.path().join("cp").join(format!("{:020}.checkpoint", 7));
        let text = std::fs::read_to_string(&file).expect("read").replace("seq 7", "seq 3");
        std::fs::write(&file, text).expect("edit");
        assert!(matches!(checkpoints.load(&signer.verifier()), Err(CheckpointError::Forged(_))));
    }

    #[test]
    fn two_writers_of_one_process_signing_the_same_head_at_once_both_succeed() {
        let dir = tempfile::tempdir().expect("dir");
        let checkpoints = std::sync::Arc::new(CheckpointDir::open(dir.path().join("cp")).expect("open"));
        let signer = std::sync::Arc::new(MasterKey::generate().checkpoint_signer());
        for seq in 1..=200 {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (checkpoints, signer) = (checkpoints.clone(), signer.clone());
                    std::thread::spawn(move || checkpoints.write(&signer.sign(Checkpoint { seq, hash: vec![3; 32], at_micros: seq })))
                })
                .collect();
            for h in handles {
                h.join().expect("thread").expect("both writes succeed");
            }
        }
        assert_eq!(checkpoints.last_seq().expect("last"), 200);
    }
}
