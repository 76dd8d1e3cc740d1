"""Every command-line script runs by path from any folder and reports bad input as one `error:` line.

The runs happen in another working directory without PYTHONPATH, so the scripts in subfolders find the
repository root only through `_bootstrap.py` (the one place that edits sys.path). The bad-input cases start
one interpreter per script; the `--help` runs share one interpreter (one torch import instead of 23) that
starts every script as Python does for `python path/to/script.py`: the script's folder first on sys.path,
the repository's modules unloaded, `__main__` = the script.
"""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from utils.cli import CliError, input_errors, reports_errors, run_cli

REPO = Path(__file__).resolve().parents[1]
# Run by path (README); the subfolder ones reach the repository root through _bootstrap.py.
SCRIPTS = [
    "object_reasoning.py", "object_scoring.py", "post_process.py", "merge_coco_and_imagenet.py",
    "train_objectness_net.py", "eval_objectness_net.py", "train_rmonet.py", "COCO_evaluator/main.py",
    "COCO*/utils/compute_category_stats.py", "COCO*/utils/generate_mask_for_extra_coco_labels.py",
    "COCO*/utils/merge_extra_labels_with_original.py", "cad/train_net.py", "cad/demo.py",
    "cad/tools/convert_checkpoint.py", "tools/check_coco_json.py", "tools/convert_to_cls_agnostic.py",
    "tools/make_synthetic_data.py", "tools/preprocess_votecut.py", "utils/preprocess_votecut.py",
    "tools/main_job_report.py", "tools/summarize_seeds.py",
    "benchmarks/bench_original_behaviour.py", "benchmarks/bench_reasoning.py", "benchmarks/bench_rmonet.py",
    "benchmarks/probe_bad_inputs.py", "docs/make_pipeline_figure.py", "tools/check_setup.py", "discover.py",
    "benchmarks/bench_discover_photos.py", "benchmarks/bench_vs_original.py",
    "benchmarks/probe_rmonet_vae.py", "benchmarks/bench_inference.py", "benchmarks/probe_rmonet_rpn.py",
]
MODULES = ["datasets.multi_object_tfrecords"]  # run with `python -m` from the repository root (README)


def _python_files() -> list[Path]:
    return [p for p in REPO.rglob("*.py")
            if not ({".git", "tests", "data", "outputs"} & set(p.relative_to(REPO).parts))]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def _run_all(jobs: list[tuple[list[str], Path]]) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda job: _run(*job), jobs))


def test_script_lists_are_complete_and_every_script_uses_run_cli():
    entry = {str(p.relative_to(REPO)) for p in _python_files()
             if '__name__ == "__main__"' in p.read_text()}
    modules = {m.replace(".", "/") + ".py" for m in MODULES}
    assert entry == set(SCRIPTS) | modules
    for path in entry:
        assert re.search(r'__name__ == "__main__":\n(.*\n)*\s+run_cli\(', (REPO / path).read_text()), path


def test_only_bootstrap_edits_sys_path():
    edits = re.compile(r"sys\.path\s*(\.(insert|append|extend|remove|pop)\(|\[.*\]\s*=|\+=|=)|del sys\.path")
    offenders = [str(p.relative_to(REPO)) for p in _python_files() if edits.search(p.read_text())]
    assert offenders == ["_bootstrap.py"]


HELP_DRIVER = """
import argparse, contextlib, io, json, os, runpy, sys
repo, scripts, modules = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
shown = []  # the option strings of each argument of the parser that printed its help
declared = []  # [option strings (or the name), help, declared through utils/config.py] of each argument
print_help = argparse.ArgumentParser.print_help
def recording_print_help(parser, file=None):
    shown[:] = [a.option_strings for a in parser._actions if a.option_strings]
    declared[:] = [[a.option_strings or [a.dest], a.help, a.typed] for a in parser._actions]
    return print_help(parser, file)
argparse.ArgumentParser.print_help = recording_print_help
typed_callers = {os.path.realpath(f) for f in (repo + "/utils/config.py", argparse.__file__)}
add_argument = argparse._ActionsContainer.add_argument
def recording_add_argument(container, *args, **kwargs):  # typed: added by utils/config.py (or argparse's -h)
    action = add_argument(container, *args, **kwargs)
    action.typed = os.path.realpath(sys._getframe(1).f_code.co_filename) in typed_callers
    return action
argparse._ActionsContainer.add_argument = recording_add_argument
site_path = [p for p in sys.path if p]  # what Python puts after a script's folder
results = {}
for target in scripts + modules:
    for name in [n for n, m in sys.modules.items() if repo + "/" in str(getattr(m, "__spec__", None))]:
        del sys.modules[name]
    is_module = target in modules
    path = repo + "/" + target
    sys.path[:] = [repo if is_module else path.rsplit("/", 1)[0], *site_path]  # -m: run from the root
    sys.argv = [path, "--help"]
    out, code = io.StringIO(), None
    try:
        with contextlib.redirect_stdout(out):
            if is_module:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        code = e.code
    except BaseException as e:
        code = repr(e)
    results[target] = [code, "usage:" in out.getvalue(), list(shown), list(declared)]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory) -> tuple[dict, str]:
    """{script: [exit code, printed usage, option strings per argument, [options, help, typed] per argument]}
    of `--help` by path; stderr."""
    r = _run(["-c", HELP_DRIVER, str(REPO), json.dumps(SCRIPTS), json.dumps(MODULES)],
             tmp_path_factory.mktemp("elsewhere"))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_every_script_answers_help_by_path_from_another_folder(help_runs):
    results, stderr = help_runs
    assert {k: v[:2] for k, v in results.items() if v[:2] != [0, True]} == {}, stderr[-3000:]


# Flags that look like a vocabulary concept must be one of its spellings, but for R-MONet's `--eval CKPT`
# (= --eval_only --resume CKPT) and `--eval_dir` (its evaluation's folder, beside training's --output_dir).
LOOKS_LIKE_VOCABULARY = re.compile(
    r"--(out|output|config|cfg|eval|device)([-_]?(dir|path|json|file|only|mode))?$")
NOT_VOCABULARY = {"--eval", "--eval_dir"}


def _misspelt(options: list[str]) -> bool:
    """An argument's option strings break the vocabulary: a concept's spelling that is not listed after the
    concept's flag as one of its aliases, or a look-alike that is no concept's spelling."""
    from utils.cli_vocabulary import TERMS, term_of

    if any(LOOKS_LIKE_VOCABULARY.match(o) and not term_of(o) for o in set(options) - NOT_VOCABULARY):
        return True
    known = [o for o in options if term_of(o)]
    term = next((t for t in TERMS if t.flag == options[0]), None)
    return bool(known) and (term is None or any(o not in (term.flag, *term.aliases) for o in known))


def test_every_script_spells_each_concept_the_vocabulary_way(help_runs):
    """One flag per concept (utils/cli_vocabulary.py) in every script's parser, older spellings as aliases."""
    from utils.cli_vocabulary import TERMS

    arguments = {script: run[2] for script, run in help_runs[0].items()}
    assert all(arguments.values())
    assert [(s, o) for s, args in arguments.items() for o in args if _misspelt(o)] == []
    in_use = {o for args in arguments.values() for options in args for o in options}
    assert {t.flag for t in TERMS} <= in_use  # every concept's flag is some script's


# Scripts whose flags are not (all) declared by typed configs (docs/DEVELOPING.md, "Typed command lines"):
# the detector's training keeps Detectron2's parser (its users' command lines), the benchmarks are
# measuring tools outside the pipeline, the cache builder is a module run with `python -m`.
UNTYPED = {"cad/train_net.py", "datasets.multi_object_tfrecords"}


def _typed_scripts(results: dict) -> dict:
    return {s: run for s, run in results.items() if s not in UNTYPED and not s.startswith("benchmarks/")}


def test_every_script_declares_its_flags_through_typed_configs(help_runs):
    """No bare `add_argument` in an entry point: every flag is a field of a config dataclass
    (utils/config.py: `option`, `add_arguments`), so its default, help and range are written once."""
    typed = _typed_scripts(help_runs[0])
    assert len(typed) >= 20
    assert not all(is_typed for _, _, is_typed in help_runs[0]["cad/train_net.py"][3])  # the check sees them
    bare = {s: [opts for opts, _, is_typed in run[3] if not is_typed] for s, run in typed.items()}
    assert {s: flags for s, flags in bare.items() if flags} == {}


RANGE_SUFFIX = re.compile(r" \(((?:[<>]=? \S+)(?: and [<>]=? \S+)*)\)$")


def test_runtime_flags_share_one_definition(help_runs):
    """--device, --seed, --num_workers, --output_dir, --output_path: in every typed script the help starts
    with RuntimeConfig's and the range is RuntimeConfig's (utils/runtime_config.py)."""
    import dataclasses

    from utils.config import range_of
    from utils.runtime_config import RUNTIME_FIELDS, RuntimeConfig, runtime_help

    ranges = {f.name: range_of(f).text() for f in dataclasses.fields(RuntimeConfig)}
    seen, wrong = set(), []
    for script, run in _typed_scripts(help_runs[0]).items():
        for options, text, _ in run[3]:
            name = options[0].removeprefix("--")
            if name not in RUNTIME_FIELDS:
                continue
            seen.add(name)
            text = text or ""
            suffix = RANGE_SUFFIX.search(text)
            if not text.startswith(runtime_help(name)) or (suffix[1] if suffix else "") != ranges[name]:
                wrong.append((script, options[0], text))
    assert wrong == []
    assert seen == set(RUNTIME_FIELDS)


def test_developing_md_shows_the_vocabulary():
    from utils.cli_vocabulary import markdown_table

    assert markdown_table() in (REPO / "docs" / "DEVELOPING.md").read_text()


def test_bad_input_ends_in_one_error_line_per_wrapper_style(tmp_path):
    missing = tmp_path / "missing"
    cases = [  # (argv, expected stderr line): one per way a script reports errors
        # plain main under run_cli
        ([str(REPO / "cad/tools/convert_checkpoint.py"), f"{missing}.pth", str(tmp_path / "o.pkl")],
         f"error: Checkpoint file not found: {missing}.pth."),
        # reports_errors(DataError): main returns the status
        ([str(REPO / "COCO_evaluator/main.py"), "--gt_annotations", f"{missing}.json",
          "--pred_annotations", f"{missing}.json"],
         f"error: ground-truth annotation file not found: {missing}.json"),
        # reports_errors(exit_on_error=True) + input_errors around a block
        ([str(REPO / "cad/train_net.py"), "--config-file", f"{missing}.yaml"],
         f"error: Config file not found: {missing}.yaml"),
        # CliError raised by the script itself
        ([str(REPO / "tools/make_synthetic_data.py"), "--seed", "-1", "--out", str(tmp_path / "s")],
         "error: --seed must be >= 0"),
    ]
    for (args, line), r in zip(cases, _run_all([(args, tmp_path) for args, _ in cases])):
        err = r.stderr.strip().splitlines()
        assert r.returncode == 2, f"{args}: {r.stderr[-2000:]}"
        assert len(err) == 1 and err[0].startswith(line), f"{args}: {r.stderr[-2000:]}"


def test_run_cli_exit_status_and_interrupt(capsys):
    def interrupted():
        raise KeyboardInterrupt

    for main, code in [(lambda: 3, 3), (lambda: {"a": 1}, 0), (lambda: None, 0), (interrupted, 130)]:
        with pytest.raises(SystemExit) as e:
            run_cli(main)
        assert e.value.code == code
    assert capsys.readouterr().err.strip().splitlines() == ["error: interrupted"]


def test_reports_errors_returns_or_exits_and_lets_other_errors_through(capsys):
    @reports_errors(FileNotFoundError, code=1)
    def returns(kind: str) -> int:
        if kind == "missing":
            raise FileNotFoundError("no such file: x")
        with input_errors(KeyError, code=3):
            raise KeyError("no key k")

    assert returns("missing") == 1
    assert returns("key") == 3
    assert capsys.readouterr().err.strip().splitlines() == ["error: no such file: x", "error: no key k"]

    @reports_errors(exit_on_error=True)
    def exits() -> None:
        raise CliError("exists already", code=4)

    with pytest.raises(SystemExit) as e:
        exits()
    assert e.value.code == 4

    @reports_errors()
    def bug() -> None:
        raise ValueError("a bug keeps its traceback")

    with pytest.raises(ValueError):
        run_cli(bug)  # run_cli adds no error handling around a decorated main
