//! Several training runs at once (`reproduce --jobs`, `openset run --jobs`): each worker
//! thread takes the next run from a queue and trains it in its own rayon pool, so two runs
//! of one thread each keep two cores busy where one run of two threads would not.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use indicatif::MultiProgress;
use sphereface_core::Error;

use super::STOP;

/// The threads each of `jobs` runs at once gets: `threads` if given (≥ 1), else the cores
/// shared out (at least one).
pub(crate) fn threads_per_job(threads: Option<usize>, jobs: usize) -> Result<usize, Error> {
    if jobs == 0 {
        return Err(Error::Config("jobs must be >= 1, got 0".into()));
    }
    match threads {
        Some(0) => Err(Error::Config("threads must be >= 1, got 0".into())),
        Some(t) => Ok(t),
        None => Ok((std::thread::available_parallelism().map_or(1, |n| n.get()) / jobs).max(1)),
    }
}

/// Runs `work` on every item of `queue`, `at_once` at a time with `threads` threads each,
/// and hands each result to `done` (in order of completion, from the worker's thread). The
/// progress bars of runs that train at once share `group` (none when `quiet`). Stops taking
/// new items after the first error or a Ctrl-C; returns that error, or
/// [`Error::Interrupted`] after a Ctrl-C.
pub(crate) fn run_queue<J: Send, R: Send>(
    queue: VecDeque<J>,
    at_once: usize,
    threads: usize,
    quiet: bool,
    work: impl Fn(J, Option<&MultiProgress>) -> Result<R, Error> + Sync,
    done: impl Fn(R, Option<&MultiProgress>) -> Result<(), Error> + Sync,
) -> Result<(), Error> {
    let queue = Mutex::new(queue);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };
    let group = (!quiet).then(MultiProgress::new);
    std::thread::scope(|s| {
        for _ in 0..at_once.max(1) {
            s.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                    Ok(p) => p,
                    Err(e) => return fail(Error::Config(format!("cannot start {threads} threads: {e}"))),
                };
                loop {
                    if STOP.load(Ordering::SeqCst) || failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let Some(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { return };
                    if let Err(e) = pool.install(|| work(job, group.as_ref())).and_then(|r| done(r, group.as_ref())) {
                        return fail(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if STOP.load(Ordering::SeqCst) {
        return Err(Error::Interrupted { step: 0 });
    }
    Ok(())
}

/// Prints a line above the progress bars (or plainly when there are none).
pub(crate) fn println_above(group: Option<&MultiProgress>, line: &str) {
    match group {
        Some(g) => {
            let _ = g.println(line);
        }
        None => println!("{line}"),
    }
}
