import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The renames that move tablespaces with PGDATA on the copy path (`TablespacePlan` says
/// where). Each looks at where things are, does what is left and refuses what it did not
/// make, so a run killed between two renames resumes, and `abort` undoes, from any point.
enum TablespaceMoves {
    /// set-aside: the version directory into `pg-rejoin-old-RUN/`, and the old copy's link
    /// pointed there, so the old copy stays whole.
    static func setAside(_ tablespace: TablespacePlan, run: String, oldData: String) throws {
        let old = tablespace.oldLocation(run: run)
        let moved = old + "/" + tablespace.versionDirectory
        if !Files.isDirectory(moved) {
            guard Files.isDirectory(tablespace.current) else {
                throw StepError.tablespaceMissing(tablespace: tablespace.label, path: tablespace.current, expected: moved)
            }
            try Files.makeDirectory(old)
            try Files.rename(tablespace.current, to: moved)
        }
        try pointLink(in: oldData, oid: tablespace.oid, to: old)
    }

    static func isSetAside(_ tablespace: TablespacePlan, run: String) -> Bool {
        Files.isDirectory(tablespace.oldLocation(run: run) + "/" + tablespace.versionDirectory)
    }

    /// swap-in: the cloned version directory into the location, and the new copy's link
    /// pointed at the location. `identity` is the cloned directory's, recorded by the clone.
    /// Returns whether it moved anything now.
    @discardableResult
    static func swapIn(_ tablespace: TablespacePlan, run: String, identity: FileIdentity?, newData: String) throws -> Bool {
        let cloned = tablespace.newLocation(run: run) + "/" + tablespace.versionDirectory
        var moved = false
        if identity == nil || FileIdentity.of(tablespace.current) != identity {
            guard let identity, FileIdentity.of(cloned) == identity else {
                throw StepError.newDataMissing(staging: cloned, pgdata: tablespace.current)
            }
            guard !Files.exists(tablespace.current) else { throw StepError.pgdataOccupied(pgdata: tablespace.current) }
            try Files.rename(cloned, to: tablespace.current)
            rmdir(tablespace.newLocation(run: run))
            moved = true
        }
        try pointLink(in: newData, oid: tablespace.oid, to: tablespace.location)
        return moved
    }

    static func isSwappedIn(_ tablespace: TablespacePlan, identity: FileIdentity?) -> Bool {
        identity != nil && FileIdentity.of(tablespace.current) == identity
    }

    /// abort, before the old data goes back to PGDATA: this run's unverified copy leaves the
    /// location (back into `pg-rejoin-new-RUN/`, removed with staging), the old version
    /// directory returns, and the old copy's link points at the location again.
    static func restore(_ tablespace: TablespacePlan, run: String, cloned identity: FileIdentity?, oldData: String) throws {
        if let identity, FileIdentity.of(tablespace.current) == identity {
            try Files.makeDirectory(tablespace.newLocation(run: run))
            try Files.rename(tablespace.current, to: tablespace.newLocation(run: run) + "/" + tablespace.versionDirectory)
        }
        guard tablespace.local else { return }
        let old = tablespace.oldLocation(run: run)
        let moved = old + "/" + tablespace.versionDirectory
        if Files.isDirectory(moved) {
            guard !Files.exists(tablespace.current) else { throw AbortError.pgdataUnknown(pgdata: tablespace.current) }
            try Files.rename(moved, to: tablespace.current)
            rmdir(old)
        }
        try pointLink(in: oldData, oid: tablespace.oid, to: tablespace.location)
    }

    /// Points `dataDirectory/pg_tblspc/OID` at `target`: a new link under a temporary name,
    /// renamed over the old one, so the link is never missing. Nothing when it points there.
    static func pointLink(in dataDirectory: String, oid: String, to target: String) throws {
        let link = dataDirectory + "/pg_tblspc/" + oid
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target { return }
        let temporary = link + ".pg-rejoin-link"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else { throw FileError.create(path: temporary, errno: errno) }
        try Files.rename(temporary, to: link)
    }
}
