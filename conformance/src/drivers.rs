//! The driver processes: CPython, Java, Jython (same command line, one JSON
//! line per case on stdout), and the cbor2 check of the golden vectors.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::report::CaseResult;

/// How long one driver process may run before it is stopped.
pub const DRIVER_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// Paths the drivers need.
pub struct Env {
    pub root: PathBuf,
    pub python: PathBuf,
    /// Where build products and logs go (`target/conformance`).
    pub work: PathBuf,
}

impl Env {
    pub fn drivers(&self) -> PathBuf {
        self.root.join("conformance/drivers")
    }
}

/// A driver ready to run: the command before the common arguments.
pub struct Prepared {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

fn run_quiet(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.trim().lines().last().unwrap_or("").to_owned();
        Err(if last.is_empty() {
            format!("{:?} exited with {}", cmd.get_program(), out.status)
        } else {
            last
        })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The CPython client: available when `import srpy` offers `PythonEngine`.
pub fn prepare_python(env: &Env) -> Result<Prepared, String> {
    if !env.python.exists() {
        return Err(format!("no Python interpreter at {}", env.python.display()));
    }
    run_quiet(Command::new(&env.python).args([
        "-c",
        "import srpy\nif not hasattr(srpy, 'PythonEngine'):\n    raise SystemExit('the srpy package has no PythonEngine yet (issue 3)')",
    ]))?;
    Ok(Prepared {
        program: env.python.clone(),
        args: vec![env.drivers().join("python_driver.py").into()],
    })
}

/// The srpy jar built by Maven (`srpy-jvm/target/*.jar`), if any.
pub fn srpy_jar(root: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SRPY_JAR").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let dir = root.join("srpy-jvm/target");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.ends_with(".jar")
                && !n.ends_with("-sources.jar")
                && !n.ends_with("-javadoc.jar")
                && !n.ends_with("-tests.jar")
                && !n.starts_with("original-")
        })
        .collect();
    jars.sort();
    jars.pop()
}

/// A Jython standalone jar: `SRPY_JYTHON_JAR`, else Maven's local
/// repository, else Debian's.
pub fn jython_jar() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SRPY_JYTHON_JAR").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(home) = home {
        let base = home.join(".m2/repository/org/python/jython-standalone");
        if let Ok(rd) = std::fs::read_dir(&base) {
            let mut versions: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            versions.sort();
            for v in versions.iter().rev() {
                let ver = v
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let jar = v.join(format!("jython-standalone-{ver}.jar"));
                if jar.is_file() {
                    return Some(jar);
                }
            }
        }
    }
    [
        "/usr/share/java/jython.jar",
        "/usr/share/java/jython-standalone.jar",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn classpath(parts: &[&Path]) -> OsString {
    std::env::join_paths(parts).unwrap_or_default()
}

/// The Java client: compiles `drivers/java` against the srpy jar.
pub fn prepare_java(env: &Env) -> Result<Prepared, String> {
    let jar = srpy_jar(&env.root).ok_or(
        "no srpy jar (build it: mvn -B -q -f srpy-jvm/pom.xml package -DskipTests, or set SRPY_JAR)",
    )?;
    let javac = on_path("javac").ok_or("no javac on PATH")?;
    let java = on_path("java").ok_or("no java on PATH")?;
    let src = env.drivers().join("java");
    let mut sources = Vec::new();
    collect_java(&src, &mut sources);
    if sources.is_empty() {
        return Err(format!("no Java sources under {}", src.display()));
    }
    let classes = env.work.join("java-classes");
    let _ = std::fs::remove_dir_all(&classes);
    std::fs::create_dir_all(&classes).map_err(|e| format!("{}: {e}", classes.display()))?;
    let mut cmd = Command::new(javac);
    cmd.arg("-nowarn")
        .arg("-encoding")
        .arg("UTF-8")
        .arg("-cp")
        .arg(&jar)
        .arg("-d")
        .arg(&classes)
        .args(&sources);
    run_quiet(&mut cmd).map_err(|e| format!("compiling the Java driver failed: {e}"))?;
    Ok(Prepared {
        program: java,
        args: vec![
            "-cp".into(),
            classpath(&[&jar, &classes]),
            "org.srpy.conformance.JavaDriver".into(),
        ],
    })
}

fn collect_java(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_java(&p, out);
        } else if p.extension().is_some_and(|x| x == "java") {
            out.push(p);
        }
    }
}

/// The Jython client: jython-standalone + the srpy jar.
pub fn prepare_jython(env: &Env) -> Result<Prepared, String> {
    let jar = srpy_jar(&env.root).ok_or(
        "no srpy jar (build it: mvn -B -q -f srpy-jvm/pom.xml package -DskipTests, or set SRPY_JAR)",
    )?;
    let jython = jython_jar().ok_or(
        "no Jython jar (set SRPY_JYTHON_JAR, or fetch org.python:jython-standalone into ~/.m2)",
    )?;
    let java = on_path("java").ok_or("no java on PATH")?;
    Ok(Prepared {
        program: java,
        args: vec![
            "-cp".into(),
            classpath(&[&jython, &jar]),
            "org.python.util.jython".into(),
            env.drivers().join("jython_driver.py").into(),
        ],
    })
}

/// The independent CBOR decoder (`cbor2` in the engines' Python).
pub fn prepare_cbor2(env: &Env) -> Result<Prepared, String> {
    run_quiet(Command::new(&env.python).args(["-c", "import cbor2"]))
        .map_err(|e| format!("cbor2 is not installed for {}: {e}", env.python.display()))?;
    Ok(Prepared {
        program: env.python.clone(),
        args: vec![env.drivers().join("cbor2_vectors.py").into()],
    })
}

/// What a driver process produced.
pub struct Ran {
    pub results: Vec<CaseResult>,
    /// `Some(reason)` when the process failed (crashed, non-zero exit,
    /// stopped at the deadline).
    pub trouble: Option<String>,
}

/// Runs a driver with `extra` arguments; its stderr goes to `log`.
pub fn run(p: &Prepared, extra: &[OsString], log: &Path, echo: bool) -> Ran {
    let stderr = match std::fs::File::create(log) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::inherit(),
    };
    let child = Command::new(&p.program)
        .args(&p.args)
        .args(extra)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                results: Vec::new(),
                trouble: Some(format!("cannot start {}: {e}", p.program.display())),
            }
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut results = Vec::new();
    let mut trouble = None;
    loop {
        let left = DRIVER_DEADLINE.saturating_sub(started.elapsed());
        match rx.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(line) => match CaseResult::from_json_line(&line) {
                Some(r) => {
                    if echo {
                        eprintln!("  {:<7} {}", r.status.name(), r.case);
                    }
                    results.push(r);
                }
                None if !line.trim().is_empty() => eprintln!("  [driver] {line}"),
                None => {}
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                trouble = Some(format!("stopped after {:?}", DRIVER_DEADLINE));
                break;
            }
        }
    }
    let _ = reader.join();
    match child.wait() {
        Ok(s) if s.success() => {}
        Ok(s) => {
            if trouble.is_none() {
                trouble = Some(format!("exited with {s}"));
            }
        }
        Err(e) => trouble = Some(format!("wait failed: {e}")),
    }
    if let Some(t) = &mut trouble {
        let tail = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = tail.trim_end().lines().rev().take(15).collect();
        if !tail.is_empty() {
            t.push_str("; its stderr ends with:\n    ");
            t.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n    "));
        }
    }
    Ran { results, trouble }
}
