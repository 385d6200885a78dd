//! The event writer: the events of every request are queued and written together, one
//! transaction for all that queued while the previous one was being written (group commit),
//! and each request is answered once its own events are durable.
//!
//! Why: a transaction's commit is the expensive part of a write (a WAL append and, with
//! `synchronous = FULL` or PostgreSQL, an `fsync`), and SQLite takes one writer at a time.
//! One transaction per request made concurrent requests queue on the store's write lock, each
//! holding a thread; one writer thread turns N waiting requests into one commit.
//!
//! The queue is bounded in events (queued and being written): a request that would go past
//! the bound is refused at once with [`Overloaded`], so a flood costs the shop a retry, not
//! the server's memory. Nothing acknowledged is ever dropped: a closing writer writes what
//! is queued before its thread ends.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use aisle_store::{NewEvent, StoreError};

use crate::events::IncomingEvent;

/// The default bound of the queue, in events: about two seconds of a busy shop's peak, a
/// few tens of MB.
pub const DEFAULT_WRITE_QUEUE: usize = 100_000;

/// The most events one transaction takes, so one commit never holds the store's write lock
/// for long (served lists are written beside events).
const MAX_GROUP: usize = 20_000;

/// What writes a group of events: one transaction, every event or none.
pub type WriteEvents = Box<dyn FnMut(&[NewEvent<'_>]) -> Result<u64, StoreError> + Send>;

/// What a request is told when its events are written (or failed).
pub type Done = Box<dyn FnOnce(Result<u64, StoreError>) + Send>;

/// The queue is full (or the writer is stopping): nothing of the request was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is taking more events than the store can write; retry shortly")]
pub struct Overloaded;

/// Queues events and writes them in groups on a thread of its own.
pub struct EventWriter {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter")
            .field("capacity", &self.shared.capacity)
            .field("unwritten", &self.unwritten())
            .finish()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The bound on `Queue::unwritten`.
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Submission>,
    /// Events queued or being written.
    unwritten: usize,
    closed: bool,
}

struct Submission {
    events: Vec<IncomingEvent>,
    done: Done,
}

impl EventWriter {
    /// Starts the writer thread; `capacity` bounds the events not yet written.
    pub fn start(capacity: usize, write: WriteEvents) -> EventWriter {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            capacity: capacity.max(1),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("aisle-event-writer".into())
                .spawn(move || run(&shared, write))
                .expect("starting the event writer thread")
        };
        EventWriter {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues `events`; `done` is called (on the writer's thread) when they are written, with
    /// how many were. Refused at once, `done` unused, when the queue cannot take them all.
    pub fn submit(&self, events: Vec<IncomingEvent>, done: Done) -> Result<(), Overloaded> {
        if events.is_empty() {
            done(Ok(0));
            return Ok(());
        }
        let mut queue = self.shared.queue.lock().expect("event queue lock");
        // A request bigger than the whole bound is taken when nothing else waits: refusing
        // it would refuse it forever.
        let fits = queue.unwritten + events.len() <= self.shared.capacity || queue.unwritten == 0;
        if queue.closed || !fits {
            return Err(Overloaded);
        }
        queue.unwritten += events.len();
        queue.waiting.push_back(Submission { events, done });
        drop(queue);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Events queued or being written.
    pub fn unwritten(&self) -> usize {
        self.shared
            .queue
            .lock()
            .expect("event queue lock")
            .unwritten
    }

    /// Refuses new events, writes the queued ones and waits for the thread to end.
    pub fn close(&self) {
        self.shared.queue.lock().expect("event queue lock").closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().expect("writer thread lock").take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(shared: &Shared, mut write: WriteEvents) {
    loop {
        let group = {
            let mut queue = shared.queue.lock().expect("event queue lock");
            while queue.waiting.is_empty() && !queue.closed {
                queue = shared.wake.wait(queue).expect("event queue lock");
            }
            if queue.waiting.is_empty() {
                return;
            }
            take_group(&mut queue.waiting)
        };
        let results = write_group(&group, &mut write);
        let written: usize = group.iter().map(|s| s.events.len()).sum();
        // Room is made before anyone hears back: an acknowledged request's events no
        // longer count against the bound.
        shared.queue.lock().expect("event queue lock").unwritten -= written;
        for (submission, result) in group.into_iter().zip(results) {
            (submission.done)(result);
        }
    }
}

/// The oldest submissions, up to [`MAX_GROUP`] events (at least one submission).
fn take_group(waiting: &mut VecDeque<Submission>) -> Vec<Submission> {
    let mut events = 0;
    let mut take = 0;
    for submission in waiting.iter() {
        if take > 0 && events + submission.events.len() > MAX_GROUP {
            break;
        }
        events += submission.events.len();
        take += 1;
    }
    waiting.drain(..take).collect()
}

/// Writes a group in one transaction; when that fails, each submission on its own, so one
/// request's failure is its own. One result per submission.
fn write_group(group: &[Submission], write: &mut WriteEvents) -> Vec<Result<u64, StoreError>> {
    let all: Vec<NewEvent<'_>> = group
        .iter()
        .flat_map(|s| s.events.iter().map(IncomingEvent::as_new))
        .collect();
    match write(&all) {
        Ok(_) => group.iter().map(|s| Ok(s.events.len() as u64)).collect(),
        Err(e) if group.len() == 1 => vec![Err(e)],
        Err(_) => group
            .iter()
            .map(|s| {
                let new: Vec<NewEvent<'_>> = s.events.iter().map(IncomingEvent::as_new).collect();
                write(&new)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn events(user: &str, n: usize) -> Vec<IncomingEvent> {
        (0..n)
            .map(|i| crate::testing::view(user, &format!("i{i}"), 1_700_000_000))
            .collect()
    }

    /// Submits `n` events of each user; answers each submission's receiver, in order.
    fn submit_each(
        writer: &EventWriter,
        users: &[&str],
        n: usize,
    ) -> Vec<mpsc::Receiver<Result<u64, StoreError>>> {
        users
            .iter()
            .map(|user| {
                let (done, rx) = answer();
                writer.submit(events(user, n), done).unwrap();
                rx
            })
            .collect()
    }

    /// A write that waits for the test's go-ahead (each send lets one transaction through;
    /// dropping the sender lets all through), recording each transaction's users.
    /// The users of each transaction written, in order.
    type Written = Arc<Mutex<Vec<Vec<String>>>>;

    fn gated() -> (WriteEvents, mpsc::Sender<()>, Written) {
        let (go, gate) = mpsc::channel::<()>();
        let written = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&written);
        let write: WriteEvents = Box::new(move |events| {
            let _ = gate.recv();
            log.lock()
                .unwrap()
                .push(events.iter().map(|e| e.user_id.to_string()).collect());
            Ok(events.len() as u64)
        });
        (write, go, written)
    }

    fn answer() -> (Done, mpsc::Receiver<Result<u64, StoreError>>) {
        let (tx, rx) = mpsc::channel();
        (
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
            rx,
        )
    }

    fn wait_until(mut ready: impl FnMut() -> bool) {
        while !ready() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn requests_queued_during_a_write_are_written_in_one_transaction() {
        let (write, go, written) = gated();
        let writer = EventWriter::start(1_000, write);
        let (done_a, a) = answer();
        writer.submit(events("a", 3), done_a).unwrap();
        // "a" is taken and held at the gate; b and c queue behind it.
        wait_until(|| writer.shared.queue.lock().unwrap().waiting.is_empty());
        let (done_b, b) = answer();
        let (done_c, c) = answer();
        writer.submit(events("b", 2), done_b).unwrap();
        writer.submit(events("c", 4), done_c).unwrap();
        assert_eq!(writer.unwritten(), 9);
        drop(go);
        assert_eq!(a.recv().unwrap().unwrap(), 3);
        assert_eq!(b.recv().unwrap().unwrap(), 2);
        assert_eq!(c.recv().unwrap().unwrap(), 4);
        writer.close();
        let written = written.lock().unwrap();
        assert_eq!(written.len(), 2, "two transactions: {written:?}");
        assert_eq!(written[1], ["b", "b", "c", "c", "c", "c"]);
        assert_eq!(writer.unwritten(), 0);
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_takes_again_once_written() {
        let (write, go, written) = gated();
        let writer = EventWriter::start(10, write);
        let (done_a, a) = answer();
        let (done_b, b) = answer();
        writer.submit(events("a", 5), done_a).unwrap();
        writer.submit(events("b", 5), done_b).unwrap();
        let (done_c, c) = answer();
        assert_eq!(writer.submit(events("c", 1), done_c), Err(Overloaded));
        assert_eq!(writer.unwritten(), 10, "the bound holds");
        drop(go);
        assert_eq!(a.recv().unwrap().unwrap(), 5);
        assert_eq!(b.recv().unwrap().unwrap(), 5);
        assert!(
            c.recv().is_err(),
            "a refused request is never answered later"
        );
        // Acknowledged means its room is free: the whole bound fits again.
        assert_eq!(writer.unwritten(), 0);
        let (done_d, d) = answer();
        writer.submit(events("d", 10), done_d).unwrap();
        assert_eq!(d.recv().unwrap().unwrap(), 10);
        writer.close();
        let users = written.lock().unwrap().concat();
        assert_eq!(users.len(), 20);
        assert!(!users.iter().any(|u| u == "c"));
    }

    #[test]
    fn a_request_larger_than_the_bound_is_taken_when_nothing_waits() {
        let (write, go, _) = gated();
        let writer = EventWriter::start(10, write);
        let (done, rx) = answer();
        writer.submit(events("big", 25), done).unwrap();
        let (done, _) = answer();
        assert_eq!(writer.submit(events("small", 1), done), Err(Overloaded));
        drop(go);
        assert_eq!(rx.recv().unwrap().unwrap(), 25);
    }

    #[test]
    fn closing_writes_what_is_queued_and_then_refuses() {
        let (write, go, written) = gated();
        let writer = EventWriter::start(100, write);
        let answers = submit_each(&writer, &["a", "b", "c"], 2);
        drop(go);
        writer.close();
        for rx in answers {
            assert_eq!(rx.recv().unwrap().unwrap(), 2);
        }
        assert_eq!(written.lock().unwrap().concat().len(), 6);
        let (done, _) = answer();
        assert_eq!(writer.submit(events("late", 1), done), Err(Overloaded));
    }

    #[test]
    fn a_failed_group_is_retried_request_by_request() {
        // The store refuses any transaction holding user "bad".
        let mut write: WriteEvents = Box::new(|events| {
            if events.iter().any(|e| e.user_id == "bad") {
                Err(StoreError::InvalidArgument {
                    argument: "user_id",
                    message: "refused by the test".into(),
                })
            } else {
                Ok(events.len() as u64)
            }
        });
        let (gate_write, go, _) = gated();
        let mut gate_write = Some(gate_write);
        // The first transaction waits at the gate so the next three form one group.
        let combined: WriteEvents = Box::new(move |events| {
            if let Some(mut first) = gate_write.take() {
                return first(events);
            }
            write(events)
        });
        let writer = EventWriter::start(100, combined);
        let (done, first) = answer();
        writer.submit(events("first", 1), done).unwrap();
        wait_until(|| writer.shared.queue.lock().unwrap().waiting.is_empty());
        let answers = submit_each(&writer, &["good", "bad", "fine"], 2);
        drop(go);
        assert_eq!(first.recv().unwrap().unwrap(), 1);
        let results: Vec<_> = answers.iter().map(|rx| rx.recv().unwrap()).collect();
        assert_eq!(results[0].as_ref().unwrap(), &2);
        assert!(results[1].is_err());
        assert_eq!(results[2].as_ref().unwrap(), &2);
    }
}
