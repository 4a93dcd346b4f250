"""The charger's software as firmware (Schedule 1: secure updates, secure boot).

A signed ``ukscp`` wheel, asked for by the CSMS, installed into one of two slots
and started by the ``ukscp boot`` launcher only if it is still what the
manufacturer signed. One job per module:

* :mod:`.request`, :mod:`.status`: the request and its answer; the status
  notifications, in order;
* :mod:`.signing`: the signing certificate chains to the manufacturer root, the
  signature is its key's;
* :mod:`.wheel`: reading a wheel (its ``.dist-info``, METADATA, RECORD, files);
* :mod:`.rollback`: never an older version;
* :mod:`.download`: fetching the file under the target policy;
* :mod:`.site`, :mod:`.slots`: the unpacked files, the A/B slots and their pointer;
* :mod:`.install`: the asyncio shell of an install;
* :mod:`.boot`, :mod:`.launcher`: the boot decisions and the ``ukscp boot`` process shell;
* :mod:`.updates`: the regular TUF check for a new release.
"""
