"""The firmware store: Raspberry Pi's usbboot payload folders, fetched or imported, verified
against upstream git blob ids, installed one folder per upstream commit (docs/firmware.md).

Modules (nothing here imports the boot engine or the CLI; progress goes through a callback):

* :mod:`~rpiboot.fwstore.layout`: the folders on disk and the ``current`` pointer (the only
  module the boot path reads, to find the current set);
* :mod:`~rpiboot.fwstore.listing`: upstream listings (paths, modes, blob ids, sizes, link
  targets) and their parsers; :mod:`~rpiboot.fwstore.upstream`: the pinned listing shipped
  in the package and GitHub's tree listings;
* :mod:`~rpiboot.fwstore.resolve`: which files of a folder are payload, symbolic links
  resolved within the tree;
* :mod:`~rpiboot.fwstore.httpget`: bounded, resumable HTTP downloads;
* :mod:`~rpiboot.fwstore.fetch` / :mod:`~rpiboot.fwstore.importer`: the two ways in;
  :mod:`~rpiboot.fwstore.install`: staging, verification and the atomic switch;
  :mod:`~rpiboot.fwstore.sets`: list, verify, use, remove.
"""
