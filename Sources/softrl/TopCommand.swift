// `softrl top RUN_DIR_OR_ENDPOINT`: a live terminal view of a run, refreshed in place (alternate screen, cursor
// home, lines cleared to their end) when stdout is a terminal, one plain line per refresh otherwise. Reading and
// layout are in Monitoring/TopView.swift; this file only loops, sizes and draws.
import ArgumentParser
import Foundation
import Cluster
import Monitoring

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract:
            "Live view of a run: actors (tokens/s, busy slots, version, last seen), learner (step time, wait, staleness), sparklines."
    )
    @Argument(
        help:
            "A run directory (softrl learner --run-dir / softrl local --run-dir) or a learner metrics endpoint (HOST:PORT or http://HOST:PORT/metrics)."
    )
    var target: String
    @Option(help: "Seconds between refreshes.") var interval: Double = 1
    @Option(help: "Stop after N refreshes (default: until Ctrl-C).") var count: Int?
    @Flag(help: "Plain lines even on a terminal.") var plain = false

    func run() throws {
        ProcessControl.installStopHandlers()
        let tty = !plain && isatty(STDOUT_FILENO) == 1
        var history: (reward: [Double], tokens: [Double], lastUpdate: Int) = ([], [], -1)
        if tty { print("\u{1B}[?1049h\u{1B}[?25l", terminator: "") } // alternate screen, hide cursor
        defer { if tty { print("\u{1B}[?25h\u{1B}[?1049l", terminator: ""); fflush(stdout) } }
        var n = 0
        let clock = DateFormatter(); clock.dateFormat = "HH:mm:ss"
        while !ProcessControl.stopRequested {
            let time = clock.string(from: Date())
            var snapshot: TopSnapshot
            do { snapshot = try TopSource.read(target, history: &history) } catch {
                snapshot = TopSnapshot(); snapshot.source = target; snapshot.note = "cannot read: \(error)"
            }
            if tty {
                let lines = TopView.render(snapshot, width: terminalWidth(), now: time)
                print("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J", terminator: "")
            } else {
                print(TopView.plainLine(snapshot, time: time))
            }
            fflush(stdout)
            n += 1
            if let count, n >= count { break }
            let until = Date().addingTimeInterval(max(0.1, interval))
            while Date() < until && !ProcessControl.stopRequested { usleep(50_000) }
        }
    }

    func terminalWidth() -> Int {
        var w = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0 && w.ws_col > 0 ? Int(w.ws_col) : 100
    }
}
