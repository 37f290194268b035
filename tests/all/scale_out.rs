//! Scale-out on a real scheduler: the documented Slurm job scripts (`deploy/slurm/`) run the
//! sample trial as three shards and a dependent merge on a single-node Slurm cluster started
//! for the test, and the merged result is that of one unsharded run. `docs/TRIALS.md` quotes
//! every file under `deploy/` verbatim, checked here, so what the docs show is what ran.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// When set (`.ci/run` sets it), a machine without Slurm fails the Slurm test instead of
/// skipping it, so that CI cannot pass without having run it.
const REQUIRE_SLURM: &str = "LIVELAB_REQUIRE_SLURM";
/// How long the daemons may take to bring the node up.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the trial's jobs may take, from submission to the merge's end. The sample trial
/// takes about a second of work; the rest is Slurm's scheduling cadence (a few seconds a job).
const JOBS_TIMEOUT: Duration = Duration::from_secs(300);
const SHARDS: usize = 3;
/// The Slurm programs the test runs, daemons first.
const PROGRAMS: [&str; 8] = [
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "scontrol",
    "squeue",
    "scancel",
    "sinfo",
];

/// `program` on `PATH` or in the sbin directories (Debian puts the daemons in `/usr/sbin`,
/// which is not on a non-root user's `PATH`).
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn output_text(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    )
}

/// A single-node Slurm cluster on a private configuration in a temporary directory: munged
/// on its own key and socket, slurmctld and slurmd in the foreground as this process's
/// children, on free ports. Every daemon is killed on drop, after the cluster's jobs are
/// cancelled, whether the test passed or not.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    user: String,
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    fn start() -> Cluster {
        // In the system's temp directory rather than the target's: its paths are short, and
        // a Unix socket's path (munged's, slurmd's) must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("livelab-slurm-")
            .tempdir()
            .expect("creating a temp dir");
        // munged refuses a socket in a directory that not everyone can search.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let user = Self::run_simple(Command::new("id").arg("-un"));
        let mut cluster = Cluster {
            conf: dir.path().join("slurm.conf"),
            dir,
            user,
            daemons: Vec::new(),
        };
        let socket = cluster.start_munged();
        cluster.write_conf(&socket);
        cluster.spawn("slurmctld", &["-D"]);
        cluster.spawn("slurmd", &["-D"]);
        cluster.wait_for_node();
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a command that must succeed, returning its trimmed stdout.
    #[track_caller]
    fn run_simple(command: &mut Command) -> String {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            output_text(&output)
        );
        stdout(&output).trim().to_owned()
    }

    /// Starts `daemon ARGS` with its output in `<daemon>.out`, pointed at this cluster.
    fn spawn(&mut self, daemon: &'static str, args: &[&str]) {
        let out = File::create(self.path(&format!("{daemon}.out"))).unwrap();
        let child = Command::new(find_program(daemon).expect("checked before start"))
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {daemon}: {e}"));
        self.daemons.push((daemon, child));
    }

    /// Starts munged on a fresh key; returns its socket.
    fn start_munged(&mut self) -> PathBuf {
        let munge = self.path("munge");
        std::fs::create_dir(&munge).unwrap();
        let mut key = [0u8; 1024];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .expect("reading /dev/urandom");
        let key_file = munge.join("munge.key");
        std::fs::write(&key_file, key).unwrap();
        // munged refuses a key that anyone else can read.
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o400)).unwrap();
        let socket = munge.join("munge.socket");
        let arg = |name: &str, path: &Path| format!("--{name}={}", path.display());
        let args = [
            "--foreground".to_owned(),
            arg("socket", &socket),
            arg("key-file", &key_file),
            arg("log-file", &munge.join("munged.log")),
            arg("pid-file", &munge.join("munged.pid")),
            arg("seed-file", &munge.join("munged.seed")),
        ];
        self.spawn("munged", &args.each_ref().map(String::as_str));
        self.wait_until("munged's socket", |_| socket.exists());
        socket
    }

    fn write_conf(&self, munge_socket: &Path) {
        // This host as slurmd sees it (NodeName = `hostname -s`, real CPUs and memory): the
        // node slurmd will register as.
        let node = Self::run_simple(Command::new(find_program("slurmd").unwrap()).arg("-C"));
        let node = node.lines().next().unwrap().to_owned();
        let name = node
            .strip_prefix("NodeName=")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("slurmd -C printed no NodeName: {node}"))
            .to_owned();
        let free_port = || {
            std::net::TcpListener::bind("0.0.0.0:0")
                .and_then(|l| l.local_addr())
                .expect("finding a free port")
                .port()
        };
        let (ctld_port, slurmd_port) = (free_port(), free_port());
        let p = |name: &str| self.path(name).display().to_string();
        let (user, socket) = (&self.user, munge_socket.display());
        for d in ["state", "spool"] {
            std::fs::create_dir(self.path(d)).unwrap();
        }
        let conf = format!(
            "ClusterName=livelab-test
SlurmctldHost={name}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={slurmd_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={slurmd_log}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# A merge whose shards failed is cancelled rather than left pending forever.
DependencyParameters=kill_invalid_depend
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=batch Nodes={name} Default=YES MaxTime=INFINITE State=UP
",
            state = p("state"),
            spool = p("spool"),
            ctld_pid = p("slurmctld.pid"),
            slurmd_pid = p("slurmd.pid"),
            ctld_log = p("slurmctld.log"),
            slurmd_log = p("slurmd.log"),
        );
        std::fs::write(&self.conf, conf).unwrap();
    }

    /// A Slurm client command pointed at this cluster.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    fn wait_for_node(&mut self) {
        self.wait_until("the node to be idle", |cluster| {
            cluster
                .command("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .is_ok_and(|o| stdout(&o).trim() == "idle")
        });
    }

    /// Polls `ready` until it holds, failing with the daemons' logs after [`START_TIMEOUT`].
    fn wait_until(&mut self, what: &str, ready: impl Fn(&Cluster) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            if let Some((daemon, status)) = self
                .daemons
                .iter_mut()
                .find_map(|(name, child)| Some((*name, child.try_wait().ok()??)))
            {
                panic!(
                    "waiting for {what}: {daemon} exited ({status})\n{}",
                    self.daemon_logs()
                );
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "{what} not ready after {START_TIMEOUT:?}\n{}",
                self.daemon_logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every daemon's output and log file, for a failure message.
    fn daemon_logs(&self) -> String {
        let mut text = String::new();
        for name in [
            "munged.out",
            "munge/munged.log",
            "slurmctld.out",
            "slurmctld.log",
            "slurmd.out",
            "slurmd.log",
        ] {
            let content = std::fs::read_to_string(self.path(name)).unwrap_or_default();
            text += &format!("--- {name}\n{content}");
        }
        text
    }

    /// Every job (an array's tasks one by one) Slurm still knows of whose id is `job`, or
    /// whose array is: `(id, fields)` from `scontrol show job --oneliner`.
    fn jobs(&self, job: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let output = self
            .command("scontrol")
            .args(["show", "job", "--oneliner", job])
            .output()
            .expect("running scontrol");
        stdout(&output)
            .lines()
            .map(|line| {
                let fields: BTreeMap<String, String> = line
                    .split_whitespace()
                    .filter_map(|f| f.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                let id = match (fields.get("ArrayJobId"), fields.get("ArrayTaskId")) {
                    (Some(array), Some(task)) => format!("{array}_{task}"),
                    _ => fields.get("JobId").cloned().unwrap_or_default(),
                };
                (id, fields)
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A job still queued or running (a failed or timed-out test) goes first: its
        // slurmstepd and livelab are not our children, so killing slurmd would leave them.
        let queued = |c: &Cluster| {
            c.command("squeue")
                .args(["-h", "-o", "%i"])
                .output()
                .is_ok_and(|o| !stdout(&o).trim().is_empty())
        };
        if self.daemons.iter().any(|(name, _)| *name == "slurmctld") && queued(self) {
            let _ = self
                .command("scancel")
                .args(["--user", &self.user])
                .status();
            let start = Instant::now();
            while queued(self) && start.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // SIGTERM first, so that each daemon reaps its own helpers (slurmctld's
        // slurmscriptd); SIGKILL for one that has not exited within seconds.
        for (_, child) in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while child.try_wait().is_ok_and(|s| s.is_none())
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Job states after which a job will not run again.
fn finished(state: &str) -> bool {
    !matches!(
        state,
        "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "REQUEUED" | "RESIZING"
    )
}

/// The file names and contents of the job logs under `dir`, for a failure message.
fn job_logs(dir: &Path) -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|p| {
            let content = std::fs::read_to_string(p).unwrap_or_default();
            format!("--- {}\n{content}", p.display())
        })
        .collect()
}

#[test]
fn a_slurm_array_of_shards_and_a_dependent_merge_give_one_run() {
    let missing: Vec<&str> = PROGRAMS
        .into_iter()
        .filter(|p| find_program(p).is_none())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "Slurm is not installed (missing: {}); .ci/setup installs it (slurm-wlm, munge)",
            missing.join(", ")
        );
        assert!(
            std::env::var_os(REQUIRE_SLURM).is_none(),
            "{message}, and {REQUIRE_SLURM} is set"
        );
        eprintln!(
            "\n!!! SKIPPED scale_out::a_slurm_array_of_shards_and_a_dependent_merge_give_one_run:\n!!! {message}; set {REQUIRE_SLURM}=1 to make this a failure\n"
        );
        return;
    }
    let tmp = temp_dir();
    let trial = format!("{REPO}/trials/sample.toml");
    let single = tmp.path().join("single");
    let started = Instant::now();
    assert_success(&run_trial(Path::new(&trial), &single));
    let single_wall = started.elapsed();

    let cluster = Cluster::start();
    let out = tmp.path().join("slurm");
    let started = Instant::now();
    // The documented submission, as a region runs it; one CPU a shard so that the shards
    // fit on any test machine side by side.
    let submitted = cluster
        .command(&format!("{REPO}/deploy/slurm/submit.sh"))
        .args([&trial, &SHARDS.to_string(), out.to_str().unwrap()])
        .arg("--cpus-per-task=1")
        .env("LIVELAB", env!("CARGO_BIN_EXE_livelab"))
        .env("LIVELAB_CACHE_DIR", cache_dir())
        .output()
        .expect("running deploy/slurm/submit.sh");
    assert!(
        submitted.status.success(),
        "submit.sh failed: {}\n{}",
        output_text(&submitted),
        cluster.daemon_logs()
    );
    let ids: Vec<String> = stdout(&submitted).lines().map(str::to_owned).collect();
    let [array, merge] = &ids[..] else {
        panic!("submit.sh printed {ids:?}, not the array's and the merge's job ids");
    };

    let merge_state = loop {
        let state = cluster
            .jobs(merge)
            .first()
            .and_then(|(_, f)| f.get("JobState").cloned());
        if let Some(state) = state.filter(|s| finished(s)) {
            break state;
        }
        if started.elapsed() > JOBS_TIMEOUT {
            break format!("not finished after {JOBS_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let slurm_wall = started.elapsed();
    let logs = job_logs(&out.join("logs"));
    // Printed whatever happens: cargo test shows it when a comparison below fails.
    eprintln!("job logs:\n{logs}");
    let tasks: Vec<String> = cluster
        .jobs(array)
        .iter()
        .chain(&cluster.jobs(merge))
        .map(|(id, f)| {
            format!(
                "{id} ({}): {} {}",
                f.get("JobName").map_or("?", String::as_str),
                f.get("JobState").map_or("?", String::as_str),
                f.get("Reason").map_or("", String::as_str)
            )
        })
        .collect();
    assert!(
        merge_state == "COMPLETED"
            && tasks.len() == SHARDS + 1
            && tasks.iter().all(|t| t.contains(": COMPLETED ")),
        "the merge job ended {merge_state}; the jobs:\n  {}\njob logs:\n{logs}\n{}",
        tasks.join("\n  "),
        cluster.daemon_logs()
    );
    drop(cluster);

    eprintln!(
        "wall time: single run {:.2} s; {SHARDS} shards and the merge on Slurm, from submission to the merge's end, {:.2} s",
        single_wall.as_secs_f64(),
        slurm_wall.as_secs_f64()
    );
    let shards: Vec<PathBuf> = (1..=SHARDS)
        .map(|i| out.join(format!("shard-{i}")))
        .collect();
    assert_merged_like_single(&out.join("merged"), &single, &shards);
}

/// `docs/TRIALS.md` quotes a file as a fenced block right after a `<!-- verbatim: PATH -->`
/// line; returns PATH → the block's text.
fn verbatim_quotes(doc: &str) -> BTreeMap<String, String> {
    let mut quotes = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- verbatim: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "docs/TRIALS.md: the verbatim marker of {path} is not followed by a ``` fence but by {fence:?}"
        );
        let block: String = lines
            .by_ref()
            .take_while(|l| *l != "```")
            .map(|l| format!("{l}\n"))
            .collect();
        quotes.insert(path.to_owned(), block);
    }
    quotes
}

#[test]
fn the_docs_quote_every_deploy_file_verbatim() {
    let doc = std::fs::read_to_string(format!("{REPO}/docs/TRIALS.md")).unwrap();
    let quotes = verbatim_quotes(&doc);
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::from(REPO).join("deploy")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(
                    path.strip_prefix(REPO)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    files.sort();
    assert!(
        files.iter().any(|f| f.starts_with("deploy/slurm/")),
        "no Slurm job script under deploy/"
    );
    for file in &files {
        let text = std::fs::read_to_string(format!("{REPO}/{file}")).unwrap();
        let quoted = quotes.get(file).unwrap_or_else(|| {
            panic!("docs/TRIALS.md does not quote {file} (a `<!-- verbatim: {file} -->` line, then the file in a fence)")
        });
        if let Some((n, (q, f))) = quoted
            .lines()
            .zip(text.lines())
            .enumerate()
            .find(|(_, (q, f))| q != f)
        {
            panic!(
                "docs/TRIALS.md's quote of {file} differs at line {}:\n  doc:  {q}\n  file: {f}",
                n + 1
            );
        }
        assert_eq!(
            quoted.lines().count(),
            text.lines().count(),
            "docs/TRIALS.md's quote of {file}: line count, doc vs file"
        );
    }
    for path in quotes.keys() {
        assert!(
            files.contains(path),
            "docs/TRIALS.md quotes {path}, which is not a file under deploy/"
        );
    }
}

#[test]
fn the_kubernetes_job_is_an_indexed_job_of_as_many_shards_as_completions() {
    let path = format!("{REPO}/deploy/kubernetes/trial-job.yaml");
    let job: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
    assert_eq!(job["apiVersion"], "batch/v1", "{path}: apiVersion");
    assert_eq!(job["kind"], "Job", "{path}: kind");
    let spec = &job["spec"];
    assert_eq!(
        spec["completionMode"], "Indexed",
        "{path}: spec.completionMode"
    );
    let completions = spec["completions"]
        .as_u64()
        .unwrap_or_else(|| panic!("{path}: spec.completions is not a number"));
    let container = &spec["template"]["spec"]["containers"][0];
    let script = container["args"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: the container has no args"));
    // Index i of the Job is shard i+1 of N: N must be the number of indices.
    let shard = format!("--shard $((JOB_COMPLETION_INDEX + 1))/{completions}");
    assert!(
        script.starts_with("livelab trial ") && script.contains(&shard),
        "{path}: the container's script does not run `livelab trial ... {shard}`: {script}"
    );
}
