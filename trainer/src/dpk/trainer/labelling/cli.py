"""``dpk sample``, ``annotate``, ``outliers``, ``merge`` and ``project`` (registered through
the ``dpk.commands`` entry points; handlers import what they need when they run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dpk.specs.arguments import positive_int

__all__ = [
    "register_annotate",
    "register_merge",
    "register_outliers",
    "register_project",
    "register_sample",
]


def _skeleton(args: argparse.Namespace):
    from dpk.specs.skeleton import Skeleton
    from dpk.trainer.labelling.project import ProjectError

    if args.skeleton:
        if Path(args.skeleton).suffix.lower() == ".csv":
            return Skeleton.from_csv(args.skeleton)
        from dpk.runtime.predictor import Predictor, resolve_model

        return Predictor(resolve_model(args.skeleton)[0]).skeleton
    if args.keypoints:
        return Skeleton.from_names([n.strip() for n in args.keypoints.split(",") if n.strip()])
    raise ProjectError(
        f"{args.output}: a new project needs its keypoints: --keypoints nose,tail,... or "
        "--skeleton skeleton.csv (name,parent,swap) or --skeleton MODEL"
    )


# ----------------------------------------------------------------------- sample
def _sample(args: argparse.Namespace) -> int:
    from dpk.trainer.labelling.project import Project
    from dpk.trainer.labelling.sample import sample_frames

    output = Path(args.output)
    project = Project.load(output) if output.exists() else Project.new(output, _skeleton(args))
    picked = sample_frames(
        project, args.videos, args.n, seed=args.seed, size=args.size, progress=not args.quiet
    )
    project.save()
    for video, frames in picked.items():
        print(f"{video.name}: {len(frames)} frames added")
    print(f"wrote {output} ({len(project.frames)} frames); next: dpk annotate {output}")
    return 0


def register_sample(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk sample``."""
    parser = subparsers.add_parser(
        "sample",
        help="pick frames to label from videos (k-means) into a label project",
        description="Pick frames to label by k-means on downsampled frames (each video its "
        "share; blurry and duplicate frames skipped) into a new or existing label project "
        "(a SLEAP .slp file).",
        epilog="example: dpk sample mouse.mp4 -n 20 -o mouse.slp --keypoints nose,tail",
    )
    parser.add_argument("videos", nargs="+", help="video files")
    parser.add_argument(
        "-n", type=positive_int, required=True, help="frames to add, over all videos"
    )
    parser.add_argument("-o", "--output", required=True, help="the label project (.slp)")
    parser.add_argument("--keypoints", help="keypoint names of a new project, comma-separated")
    parser.add_argument(
        "--skeleton",
        help="skeleton of a new project: a CSV (name,parent,swap), a model file or zoo name",
    )
    parser.add_argument("--seed", type=int, default=0, help="k-means seed (default 0)")
    parser.add_argument("--size", type=positive_int, default=32, help="thumbnail side (default 32)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=_sample)


# ----------------------------------------------------------------------- annotate
def _annotate(args: argparse.Namespace) -> int:
    from dpk.trainer.labelling.project import Project, ProjectError
    from dpk.trainer.labelling.server import AnnotationServer, ProjectLock, prefill

    project = Project.load(args.project)
    if args.relink:
        for old, new in project.relink(args.relink):
            print(f"relinked {old} -> {new}")
    project.check_videos()
    if not project.frames:
        raise ProjectError(
            f"{args.project}: has no frames; add some with dpk sample VIDEO -o {args.project}"
        )
    lock = ProjectLock(project.path)
    lock.acquire()
    try:
        if args.relink:
            project.save()
        if args.model:
            filled = prefill(project, args.model, progress=not args.quiet)
            project.save()
            print(f"pre-filled {filled} frames with {args.model} (marked predicted, unreviewed)")
        server = AnnotationServer(project, port=args.port)
        print(
            f"annotating {project.path}: open {server.url} (Ctrl-C stops; every change is saved)",
            flush=True,
        )
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        try:
            server.serve_forever()
        finally:
            server.shutdown()
    finally:
        lock.release()
    return 0


def register_annotate(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk annotate``."""
    parser = subparsers.add_parser(
        "annotate",
        help="label frames in the browser (a page served on 127.0.0.1)",
        description="Serve the annotation page of a label project on 127.0.0.1: place keypoints "
        "with the mouse and keyboard; every change is saved to the project at once.",
        epilog="example: dpk annotate mouse.slp --model mouse.onnx",
    )
    parser.add_argument("project", help="the label project (.slp)")
    parser.add_argument(
        "--model",
        help="pre-fill unlabelled frames with this model's predictions (file or zoo name)",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument(
        "--relink",
        action="append",
        metavar="VIDEO",
        help="a video that moved (matched by file name)",
    )
    parser.add_argument("--open", action="store_true", help="open the page in the web browser")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=_annotate)


# ----------------------------------------------------------------------- outliers
def _outliers(args: argparse.Namespace) -> int:
    from dpk.runtime.formats import load_predictions
    from dpk.trainer.labelling.outliers import add_outliers
    from dpk.trainer.labelling.project import Project, ProjectError

    if not Path(args.video).is_file():
        raise ProjectError(f"{args.video}: video file not found")
    project = Project.load(args.project)
    predictions = load_predictions(args.poses)
    found = add_outliers(project, predictions, args.video, n=args.n, min_gap=args.min_gap)
    project.save()
    for outlier in found:
        print(f"frame {outlier.frame}: {outlier.reason} (z = {outlier.score:.1f})")
    print(
        f"added {len(found)} frames to {project.path} for review; next: dpk annotate {project.path}"
    )
    return 0


def register_outliers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk outliers``."""
    parser = subparsers.add_parser(
        "outliers",
        help="add the most unusual predicted frames to a label project for review",
        description="Rank the frames of a predicted video by low confidence, temporal jumps and "
        "bone lengths far from the labelled ones, and add the worst to the project (predicted "
        "points marked unreviewed).",
        epilog="example: dpk outliers poses.h5 mouse.mp4 -p mouse.slp -n 20",
    )
    parser.add_argument("poses", help="predictions of the video (from dpk predict)")
    parser.add_argument("video", help="the video they were made on")
    parser.add_argument("-p", "--project", required=True, help="the label project (.slp)")
    parser.add_argument("-n", type=positive_int, default=20, help="frames to add (default 20)")
    parser.add_argument(
        "--min-gap",
        type=positive_int,
        default=5,
        help="frames between picks at least (default 5)",
    )
    parser.set_defaults(func=_outliers)


# ----------------------------------------------------------------------- merge
def _merge(args: argparse.Namespace) -> int:
    from dpk.trainer.labelling.merge import merge_projects
    from dpk.trainer.labelling.project import Project

    into = Project.load(args.project)
    others = [Project.load(path) for path in args.others]
    reports = [merge_projects(into, other, prefer=args.prefer) for other in others]
    into.save(args.output or into.path)
    for path, report in zip(args.others, reports, strict=True):
        print(
            f"{path}: {report.added} frames added, {report.filled} filled, {report.same} the same, "
            f"{len(report.conflicts)} conflicts"
        )
        for name, index in report.conflicts:
            kept = "took theirs" if args.prefer == "other" else "kept ours"
            print(f"  conflict: {name} frame {index} labelled differently ({kept})")
    print(f"wrote {args.output or into.path} ({len(into.frames)} frames)")
    return 1 if any(r.conflicts for r in reports) and args.prefer == "this" else 0


def register_merge(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk merge``."""
    parser = subparsers.add_parser(
        "merge",
        help="join label projects (same skeleton; conflicts reported, never overwritten)",
        description="Merge label projects into the first. Frames labelled differently in two "
        "projects are conflicts: reported, and the first project's labels kept unless "
        "--prefer other (exit status 1 when conflicts were kept).",
        epilog="example: dpk merge mouse.slp outliers.slp",
    )
    parser.add_argument("project", help="the project that receives the frames (.slp)")
    parser.add_argument("others", nargs="+", help="projects to merge in")
    parser.add_argument("-o", "--output", help="write the result here instead of PROJECT")
    parser.add_argument(
        "--prefer", choices=("this", "other"), default="this", help="whose labels win a conflict"
    )
    parser.set_defaults(func=_merge)


# ----------------------------------------------------------------------- project
def _starter_spec(args: argparse.Namespace):
    """``dpk project spec``'s spec: from a label project (.slp), else from any DeepLabCut
    labels (project folder, config.yaml, CollectedData table)."""
    from dpk.trainer.labelling.project import Project, ProjectError
    from dpk.trainer.labelling.starter import starter_spec, starter_spec_from_labels

    source = Path(args.source)
    if source.suffix.lower() == ".slp":
        return starter_spec(Project.load(source), args.output, args.scale, args.minutes)
    from dpk.trainer.labels.formats.dlc import is_dlc_path, load_dlc

    if not source.exists():
        raise ProjectError(f"{source}: not found; give a label project (.slp) or DeepLabCut labels")
    if not is_dlc_path(source):
        raise ProjectError(
            f"{source}: not a label project (.slp) or DeepLabCut labels (project folder, "
            "config.yaml, CollectedData .csv/.h5); for a DeepPoseKit .h5 run dpk project "
            "import first"
        )
    return starter_spec_from_labels(load_dlc(source), source, args.output, args.scale, args.minutes)


def _project(args: argparse.Namespace) -> int:
    from dpk.trainer.labelling.convert import export_dpk_h5, import_dpk_h5
    from dpk.trainer.labelling.project import Project

    if args.action == "import":
        project = import_dpk_h5(
            args.source,
            args.output,
            args.skeleton,
            repair_swaps=args.repair_swaps,
            progress=not args.quiet,
        )
        print(
            f"wrote {args.output} ({len(project.frames)} frames, images in {project.videos[0].name}); "
            f"next: dpk annotate {args.output}"
        )
    elif args.action == "spec":
        from dpk.specs.files import write_text_atomic
        from dpk.specs.io import dump_spec

        spec = _starter_spec(args)  # its warnings: one line each (the dpk command's)
        write_text_atomic(args.output, dump_spec(spec), inputs=[args.source])
        print(f"wrote {args.output}; next: dpk train {args.output}")
    elif args.action == "export":
        n = export_dpk_h5(Project.load(args.source), args.output, progress=not args.quiet)
        print(f"wrote {args.output} ({n} frames)")
    else:
        project = Project.load(args.source)
        counts = ", ".join(f"{v} {k}" for k, v in project.summary().items())
        print(f"{project.path}: {len(project.frames)} frames ({counts})")
        print(f"keypoints: {', '.join(project.skeleton.names)}")
        for video in project.videos:
            print(f"video: {video}{'' if video.is_file() else '  (NOT FOUND: --relink)'}")
    return 0


def register_project(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk project`` (import, export, show)."""
    parser = subparsers.add_parser(
        "project",
        help="label projects: import/export DeepPoseKit .h5, a starting spec, a summary",
        description="Import a DeepPoseKit annotation file (.h5) into a new label project, "
        "export a project as one, write a model spec that trains on it (dpk train SPEC), or "
        "show what a project holds.",
        epilog="example: dpk project import annotations.h5 -o fly.slp --skeleton skeleton.csv",
    )
    parser.add_argument("action", choices=("import", "export", "show", "spec"))
    parser.add_argument("source", help="import: the .h5; export, show, spec: the project (.slp)")
    parser.add_argument(
        "-o", "--output", help="import: the new project; export: the .h5; spec: the model spec"
    )
    parser.add_argument(
        "--minutes", type=float, default=30, help="spec: training.max_minutes (default 30)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        help="spec: input size over frame size (default: the longer side fitted to 256 px)",
    )
    parser.add_argument("--skeleton", help="import: keypoint names, parents, swaps (skeleton CSV)")
    parser.add_argument(
        "--repair-swaps",
        action="store_true",
        help="import: make one-way left/right swaps mutual (as the error message proposes)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=_project_checked)


def _project_checked(args: argparse.Namespace) -> int:
    from dpk.trainer.labelling.project import ProjectError

    if args.action != "show" and not args.output:
        raise ProjectError(f"dpk project {args.action} needs -o OUTPUT")
    return _project(args)
