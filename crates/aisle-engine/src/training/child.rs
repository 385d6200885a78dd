//! Training in a child process: the server's retrainings fit in a process of their own, so
//! that what a fit holds — the store's snapshot, the matrix, the solver's buffers, four to
//! five times the serving state on the soak's shop — is never part of the serving process,
//! and so that the operating system can run the fit at a lower priority than the requests.
//!
//! The child only computes: it snapshots the store (its own connection), fits, ranks the
//! lists precomputed per known user, and writes them with the model's bytes to a file the
//! parent named. The parent saves the version and installs it: the store's write lock is
//! only ever taken by the serving process, at its normal priority (a low-priority holder
//! would stall the event writer behind it).
//!
//! The protocol, one request and a stream of JSON lines:
//! - the parent writes a [`Request`] as JSON on the child's stdin and closes it;
//! - the child writes one [`Message`] per line on its stdout: progress and notices while it
//!   works, then `done` or `failed`;
//! - the artifact file: [`MAGIC`], then the version's description (JSON), the model's bytes
//!   and the precomputed lists, each behind its length (little-endian).
//!
//! The child's stderr is the parent's: its log lines land in the server's log.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use aisle_models::{Progress, Scored, TrainedModel};
use aisle_store::{ModelMeta, Store};
use serde::{Deserialize, Serialize};

use super::{TrainError, TrainSpec, fit};
use crate::serving::{Lists, precompute_lists};

/// The first bytes of an artifact file (the last one is the layout's version).
pub const MAGIC: &[u8; 14] = b"AISLE-FITTED\n\x01";

/// How to start a training process: a program and its arguments. The program must read a
/// [`Request`] on stdin and answer with [`run_child`] (for the `aisle` binary:
/// `aisle train-worker`, with the server's store in `AISLE_TRAIN_DB`).
#[derive(Clone)]
pub struct ChildTraining {
    program: PathBuf,
    args: Vec<OsString>,
    /// Variables set for the child (besides the parent's own, which it inherits).
    env: Vec<(OsString, OsString)>,
}

/// Without the variables' values: they may hold a database password.
impl std::fmt::Debug for ChildTraining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildTraining")
            .field("program", &self.program)
            .field("args", &self.args)
            .field(
                "env",
                &self.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What a training process hands back.
#[derive(Debug)]
pub struct Artifact {
    pub meta: ModelMeta,
    /// The serialised [`TrainedModel`].
    pub bytes: Vec<u8>,
    /// The best items per known user (see [`precompute_lists`]).
    pub precomputed: Lists,
}

/// What the parent asks.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub spec: TrainSpec,
    /// How many items to rank per known user (0: none).
    pub precompute: usize,
    /// Where to write the artifact.
    pub out: PathBuf,
}

/// One line of the child's stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Progress {
        done: u64,
        total: u64,
    },
    Notice(String),
    /// The artifact is written.
    Done,
    /// The fit failed; `no_events` when the store held nothing to train on.
    Failed {
        message: String,
        no_events: bool,
    },
}

impl ChildTraining {
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = OsString>) -> Self {
        ChildTraining {
            program: program.into(),
            args: args.into_iter().collect(),
            env: Vec::new(),
        }
    }

    /// Sets the variable `name` to `value` for the child.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Fits `spec` in a child process and reads back what it made. Blocks until the child
    /// exits.
    pub fn fit(
        &self,
        spec: &TrainSpec,
        precompute: usize,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
        notice: Option<&(dyn Fn(&str) + Sync)>,
    ) -> Result<Artifact, TrainError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            TrainError::Process(format!("{what} ({}): {e}", self.program.display()))
        };
        // Deleted when this returns, whatever the child did.
        let out = tempfile::Builder::new()
            .prefix("aisle-fitted-")
            .tempfile()
            .map_err(|e| failed("no file for the artifact", &e))?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| failed("cannot start", &e))?;
        tracing::info!(pid = child.id(), model = %spec.model, "training process started");
        let request = Request {
            spec: spec.clone(),
            precompute,
            out: out.path().to_path_buf(),
        };
        let mut stdin = child.stdin.take().expect("piped stdin");
        let sent = serde_json::to_writer(&mut stdin, &request);
        // Closing stdin ends the request.
        drop(stdin);
        let mut finished = false;
        let mut failure = None;
        let stdout = child.stdout.take().expect("piped stdout");
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Message>(&line) {
                Ok(Message::Progress { done, total }) => {
                    if let Some(progress) = progress {
                        progress(Progress { done, total });
                    }
                }
                Ok(Message::Notice(text)) => {
                    if let Some(notice) = notice {
                        notice(&text);
                    }
                }
                Ok(Message::Done) => finished = true,
                Ok(Message::Failed { message, no_events }) => failure = Some((message, no_events)),
                Err(_) => tracing::info!("training process: {line}"),
            }
        }
        let status = child.wait().map_err(|e| failed("lost", &e))?;
        if let Err(e) = sent {
            return Err(failed("did not take the request", &e));
        }
        match failure {
            Some((_, true)) => return Err(TrainError::NoEvents),
            Some((message, false)) => return Err(TrainError::Process(message)),
            None => {}
        }
        if !finished || !status.success() {
            return Err(TrainError::Process(format!(
                "{} ended ({status}) without handing over a model",
                self.program.display()
            )));
        }
        let file = File::open(out.path()).map_err(|e| failed("artifact unreadable", &e))?;
        read_artifact(BufReader::new(file)).map_err(|e| failed("artifact unreadable", &e))
    }
}

/// The child's side: reads a [`Request`] from `input`, fits on `store`, writes the artifact
/// and reports on `report`, one [`Message`] per line. An error is reported as `failed` (and
/// returned); only an unreadable request or a broken `report` return without a word.
pub fn run_child(
    store: &dyn Store,
    input: impl Read,
    report: impl Write + Send,
) -> Result<(), TrainError> {
    let request: Request = serde_json::from_reader(input)
        .map_err(|e| TrainError::Process(format!("unreadable request: {e}")))?;
    let report = Mutex::new(report);
    let say = |message: &Message| {
        let mut report = report.lock().expect("report lock");
        // A parent that stopped listening has died or given up: the fit goes on and its
        // artifact is simply not read.
        let _ = serde_json::to_writer(&mut *report, message);
        let _ = report.write_all(b"\n");
        let _ = report.flush();
    };
    let on_progress = |p: Progress| {
        say(&Message::Progress {
            done: p.done,
            total: p.total,
        })
    };
    let on_notice = |text: &str| say(&Message::Notice(text.to_string()));
    let outcome = fit(
        store,
        &request.spec,
        Some(&on_progress),
        None,
        Some(&on_notice),
    )
    .and_then(|fitted| {
        let lists = if request.spec.baskets {
            Lists::default()
        } else {
            precompute_lists(&fitted.model, &fitted.matrix, request.precompute)
        };
        write_artifact(&request.out, &fitted.meta, &fitted.bytes, &lists)
            .map_err(|e| TrainError::Process(format!("{}: {e}", request.out.display())))
    });
    match &outcome {
        Ok(()) => say(&Message::Done),
        Err(e) => say(&Message::Failed {
            message: e.to_string(),
            no_events: matches!(e, TrainError::NoEvents),
        }),
    }
    outcome
}

fn write_artifact(path: &Path, meta: &ModelMeta, bytes: &[u8], lists: &Lists) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(MAGIC)?;
    let meta = serde_json::to_vec(meta)?;
    out.write_all(&(meta.len() as u64).to_le_bytes())?;
    out.write_all(&meta)?;
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)?;
    out.write_all(&(lists.len() as u64).to_le_bytes())?;
    for list in lists.iter() {
        out.write_all(&(list.len() as u32).to_le_bytes())?;
        for scored in list {
            out.write_all(&scored.item.to_le_bytes())?;
            out.write_all(&scored.score.to_le_bytes())?;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Reads what [`write_artifact`] wrote; checks the model's bytes decode.
fn read_artifact(mut input: impl Read) -> io::Result<Artifact> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not an artifact of this Aisle"));
    }
    let mut word = [0u8; 8];
    let mut length = |input: &mut dyn Read| -> io::Result<u64> {
        input.read_exact(&mut word)?;
        Ok(u64::from_le_bytes(word))
    };
    let meta_len = length(&mut input)?;
    let meta: ModelMeta =
        serde_json::from_reader((&mut input).take(meta_len)).map_err(io::Error::from)?;
    let bytes_len = length(&mut input)?;
    // Sized once (a model is megabytes; growing by doubling would copy it several times).
    let mut bytes = Vec::with_capacity(usize::try_from(bytes_len.min(1 << 32)).unwrap_or(0));
    (&mut input).take(bytes_len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != bytes_len {
        return Err(invalid("the model's bytes are cut short"));
    }
    let users = length(&mut input)?;
    let mut precomputed = Lists::default();
    let mut list = Vec::new();
    let mut entry = [0u8; 4];
    for _ in 0..users {
        input.read_exact(&mut entry)?;
        let len = u32::from_le_bytes(entry) as usize;
        list.clear();
        for _ in 0..len {
            input.read_exact(&mut entry)?;
            let item = u32::from_le_bytes(entry);
            input.read_exact(&mut entry)?;
            list.push(Scored {
                item,
                score: f32::from_le_bytes(entry),
            });
        }
        if precomputed.is_empty() {
            // Sized once, from the first list (every list has the same length but the
            // shortest catalogues'): one allocation for them all.
            precomputed =
                Lists::with_capacity(usize::try_from(users.min(1 << 24)).unwrap_or(0), len);
        }
        precomputed.push(&list);
    }
    Ok(Artifact {
        meta,
        bytes,
        precomputed,
    })
}

impl Artifact {
    /// The model, decoded from its bytes.
    pub fn model(&self) -> Result<TrainedModel, TrainError> {
        Ok(TrainedModel::from_bytes(&self.bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta() -> ModelMeta {
        ModelMeta {
            name: "als".into(),
            params: json!({"factors": 8}),
            trained_at: 1_700_000_000,
            metrics: json!({"users": 3}),
            format_version: 1,
            last_event_id: Some(aisle_store::EventId(41)),
        }
    }

    #[test]
    fn an_artifact_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fitted");
        let mut lists = Lists::default();
        lists.push(&[
            Scored {
                item: 3,
                score: 0.5,
            },
            Scored {
                item: 1,
                score: -2.0,
            },
        ]);
        lists.push(&[]);
        lists.push(&[Scored {
            item: 7,
            score: f32::MAX,
        }]);
        write_artifact(&path, &meta(), b"model bytes", &lists).unwrap();
        let back = read_artifact(File::open(&path).unwrap()).unwrap();
        assert_eq!(back.meta, meta());
        assert_eq!(back.bytes, b"model bytes");
        assert_eq!(back.precomputed, lists);
    }

    #[test]
    fn the_child_side_fits_what_the_parent_would_and_ranks_its_lists() {
        let shop = crate::testing::TestEngine::new();
        let store = shop.store().as_ref();
        let dir = tempfile::tempdir().unwrap();
        let spec = TrainSpec {
            params: serde_json::from_value(json!({"factors": 8, "iterations": 4})).unwrap(),
            holdout: false,
            ..TrainSpec::default()
        };
        let request = Request {
            spec: spec.clone(),
            precompute: 5,
            out: dir.path().join("fitted"),
        };
        let mut report = Vec::new();
        run_child(
            store,
            &serde_json::to_vec(&request).unwrap()[..],
            &mut report,
        )
        .unwrap();
        let lines: Vec<Message> = String::from_utf8(report)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(matches!(lines.last(), Some(Message::Done)), "{lines:?}");
        assert!(lines.iter().any(|m| matches!(m, Message::Progress { .. })));

        let artifact = read_artifact(File::open(&request.out).unwrap()).unwrap();
        let model = artifact.model().unwrap();
        // The same fit in this process (same seed, same snapshot): the same lists.
        let here = fit(store, &spec, None, None, None).unwrap();
        assert_eq!(artifact.meta.params, here.meta.params);
        assert_eq!(artifact.meta.last_event_id, here.meta.last_event_id);
        assert_eq!(model.users.len(), here.model.users.len());
        let lists = precompute_lists(&here.model, &here.matrix, 5);
        assert_eq!(artifact.precomputed.len(), here.matrix.n_users());
        assert_eq!(artifact.precomputed, lists);
        assert!(artifact.precomputed.iter().all(|l| l.len() == 5));
        assert_eq!(artifact.precomputed.get(here.matrix.n_users()), None);
    }

    #[test]
    fn a_failed_fit_is_reported_with_its_reason() {
        let shop = crate::testing::TestEngine::new();
        let dir = tempfile::tempdir().unwrap();
        let request = Request {
            spec: TrainSpec {
                model: "no-such-model".into(),
                ..TrainSpec::default()
            },
            precompute: 5,
            out: dir.path().join("fitted"),
        };
        let mut report = Vec::new();
        let outcome = run_child(
            shop.store().as_ref(),
            &serde_json::to_vec(&request).unwrap()[..],
            &mut report,
        );
        assert!(outcome.is_err());
        let last: Message =
            serde_json::from_str(String::from_utf8(report).unwrap().lines().last().unwrap())
                .unwrap();
        match last {
            Message::Failed { message, no_events } => {
                assert!(message.contains("no-such-model"), "{message}");
                assert!(!no_events);
            }
            other => panic!("{other:?}"),
        }
        assert!(!request.out.exists());
    }

    #[test]
    fn a_cut_or_foreign_artifact_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fitted");
        let mut lists = Lists::default();
        lists.push(&[]);
        write_artifact(&path, &meta(), b"model bytes", &lists).unwrap();
        let whole = std::fs::read(&path).unwrap();
        for cut in [5, MAGIC.len() + 4, whole.len() - 1] {
            assert!(read_artifact(&whole[..cut]).is_err(), "cut at {cut}");
        }
        let mut foreign = whole.clone();
        foreign[0] = b'X';
        assert!(read_artifact(&foreign[..]).is_err());
    }
}
