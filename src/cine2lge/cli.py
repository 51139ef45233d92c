"""`cine2lge` command line: small helpers around the Snakemake workflow.

    cine2lge install-slurm-profile [--dest DIR] [--force]
    cine2lge quantify-lge --lge LGE.nii.gz --labels LABELS.nii.gz --scheme NAME --out lesions.tsv
                          [--configfile config.yaml] [--subject ID]

Subcommands are registered in `build_parser`; each has a `run_<name>(args) -> int` function.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

PROFILE_NAME = "slurm"
# The repository root when the package is installed from a checkout (pip install -e .).
REPO_ROOT = Path(__file__).resolve().parents[2]


def user_profile_dir(name: str = PROFILE_NAME) -> Path:
    """Where `snakemake --profile NAME` finds a user profile: $XDG_CONFIG_HOME/snakemake/NAME,
    by default ~/.config/snakemake/NAME (Snakemake's own lookup, via appdirs)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "snakemake" / name


def find_profile_template(name: str = PROFILE_NAME) -> Path:
    """The shipped profile template profiles/NAME: in the current directory (a checkout of the
    workflow) or in the checkout the package was installed from."""
    for root in (Path.cwd(), REPO_ROOT):
        candidate = root / "profiles" / name
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"profile template profiles/{name}/config.yaml not found in {Path.cwd()} or {REPO_ROOT}; "
        "run this command from the cine2lge checkout or pass --source"
    )


def install_profile(source: Path, dest: Path, force: bool = False) -> Path:
    """Copy the profile folder `source` to `dest`; an existing `dest` is kept (a site's edited
    copy) unless `force`, in which case it is replaced."""
    source, dest = Path(source), Path(dest)
    if not (source / "config.yaml").is_file():
        raise FileNotFoundError(f"{source} is not a Snakemake profile: no config.yaml in it")
    if dest.exists():
        if not force:
            raise FileExistsError(
                f"{dest} already exists (maybe edited for your site); use --force to replace it"
            )
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest)
    return dest


def run_install_slurm_profile(args: argparse.Namespace) -> int:
    source = Path(args.source) if args.source else find_profile_template(PROFILE_NAME)
    dest = Path(args.dest) if args.dest else user_profile_dir(PROFILE_NAME)
    installed = install_profile(source, dest, force=args.force)
    print(f"installed {source} as {installed}; run `snakemake --profile {PROFILE_NAME}`")
    print(f"edit {installed / 'config.yaml'} for your site (keys marked SITE)")
    return 0


def run_quantify_lge(args: argparse.Namespace) -> int:
    import logging

    from cine2lge.quantify.nifti import load_config, quantify_lge

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args.configfile)
    table = quantify_lge(args.lge, args.labels, args.scheme, args.out, config, args.subject)
    rows = table[table["region"] == "subject"]
    for _, row in rows.iterrows():
        print(
            f"{row['source']:6s} {row['class']:13s} {row['percent_lv']:7.2f} %LV"
            f" {row['volume_ml']:8.2f} mL"
        )
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cine2lge", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    install = commands.add_parser(
        "install-slurm-profile",
        help="install profiles/slurm as your `slurm` Snakemake profile",
        description="Copy the site-profile template profiles/slurm to "
        "~/.config/snakemake/slurm (honours $XDG_CONFIG_HOME) so that "
        "`snakemake --profile slurm` finds it.",
    )
    install.add_argument("--source", help="profile folder to install (default: profiles/slurm)")
    install.add_argument("--dest", help="target folder (default: ~/.config/snakemake/slurm)")
    install.add_argument("--force", action="store_true", help="replace an existing profile")
    install.set_defaults(func=run_install_slurm_profile)

    quantify = commands.add_parser(
        "quantify-lge",
        help="lesion burden of one LGE NIfTI with a label map (the pipeline's quantification)",
        description="Quantify one LGE volume inside the myocardium of a label map on its grid, "
        "with the pipeline's code and config keys (quantify, label_schemes); writes a table in "
        "the lesions.tsv schema (docs/quantify.md).",
    )
    quantify.add_argument("--lge", required=True, help="LGE short-axis stack (NIfTI)")
    quantify.add_argument("--labels", required=True, help="label map on the LGE's grid (NIfTI)")
    quantify.add_argument(
        "--scheme", required=True, help="label scheme name (config label_schemes)"
    )
    quantify.add_argument("--out", required=True, help="output table (lesions.tsv schema)")
    quantify.add_argument(
        "--configfile", help="YAML merged over the workflow's config/config.yaml (as Snakemake)"
    )
    quantify.add_argument("--subject", help="subject id in the table (default: LGE file name)")
    quantify.set_defaults(func=run_quantify_lge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as error:
        print(f"cine2lge {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
