import Foundation
import KDCore

/// One self-contained HTML page for a run folder (Docs/Report.md): tables, the paper's figures drawn from the
/// run's own data as inline SVG, pictures as data: URIs, a small inline script for sorting. Nothing is
/// fetched: no external scripts, styles, fonts or images.
enum ReportHTML {
    /// The ids of the sections every report has (the browser check looks for them).
    static let sectionIDs = ["provenance", "settings", "table5", "accuracy", "hypotheses", "counts", "fig4", "fig2", "fig5",
                             "coherency", "pictures", "notes"]

    static func f(_ x: Double?, _ digits: Int = 3) -> String { x.map { String(format: "%.\(digits)g", $0) } ?? "n/a" }

    static func render(_ run: ReportRun, generated: Date = Date()) -> String {
        let o = run.outcome, c = o.config
        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        h += "<title>kd-tool report: \(HTML.text(o.dataset)) · \(HTML.text(c.family)) · \(HTML.text(c.tap))</title>"
        h += "<style>\(css)</style>"
        // Errors of the page's own script land in #report-errors (the browser check requires it empty).
        h += "<script>window.onerror=function(m,s,l){var e=document.getElementById('report-errors');if(e){e.textContent+=m+' (line '+l+')\\n';}};</script>"
        h += "</head><body>"
        h += "<header><h1>Knowledge in a DNN: teacher, distilled student, baseline</h1>"
        h += "<p class=\"sub\">Run folder <code>\(HTML.text(run.folder.lastPathComponent))</code> · family <b>\(HTML.text(c.family))</b> · tap <b>\(HTML.text(c.tap))</b>"
        h += " · distilled at <b>\(HTML.text(c.effectiveDistillationTap))</b> · method: Docs/Method.md §3–5 · generated \(HTML.text(ISO8601DateFormatter().string(from: generated)))</p></header>"
        h += "<nav>" + [("provenance", "Data"), ("table5", "Table 5"), ("accuracy", "Accuracy"), ("hypotheses", "Hypotheses"),
                        ("fig4", "Fig. 4"), ("fig2", "Fig. 2"), ("fig5", "Fig. 5"), ("coherency", "Coherency"), ("pictures", "Pictures"),
                        ("settings", "Settings"), ("notes", "Notes")].map { "<a href=\"#\($0.0)\">\($0.1)</a>" }.joined(separator: " ") + "</nav>"
        h += "<main>"
        h += provenance(o)
        h += table5(o)
        h += accuracy(o, run)
        h += hypotheses(o)
        h += counts(o)
        h += figure4(run)
        h += figure2(run)
        h += figure5(run)
        h += coherency(run)
        h += pictures(run)
        h += settings(o)
        h += notes(run)
        h += "<div id=\"report-errors\" data-kind=\"errors\"></div>"
        h += "</main><script>\(script)</script></body></html>\n"
        return h
    }

    // MARK: - Sections

    static func provenance(_ o: Study.Outcome) -> String {
        var h = "<section id=\"provenance\" data-kind=\"banner\">"
        if o.datasetIsComposite {
            h += "<div class=\"banner composite\"><b>COMPOSITE</b> dataset: <b>\(HTML.text(o.dataset))</b> — objects placed on backgrounds, "
            h += "its foreground/background labels are synthetic (from the compositing masks); it is not a benchmark set, so its numbers are not the paper's.</div>"
        } else {
            h += "<div class=\"banner\">Dataset: <b>\(HTML.text(o.dataset))</b> (foreground/background labels from its annotations).</div>"
        }
        h += "<p>\(o.classes.count) classes (\(HTML.text(o.classes.prefix(12).joined(separator: ", ")))\(o.classes.count > 12 ? ", …" : "")); "
        h += "training samples: " + o.trainSamples.sorted { $0.key > $1.key }.map { "\(HTML.text($0.key)) \($0.value)" }.joined(separator: ", ")
        h += "; test samples \(o.testSamples); analysed inputs \(o.inputIDs.count)"
        if !o.skippedSamples.isEmpty { h += "; <b>\(o.skippedSamples.count) samples skipped</b> while reading (listed in study.json)" }
        h += ".</p></section>"
        return h
    }

    static func estimateCell(_ e: MetricEstimate?) -> String {
        guard let e else { return "<td class=\"na\">n/a</td>" }
        var s = "<td><span class=\"v\">\(f(e.value))</span>"
        if let se = e.standardError { s += " ± \(f(se, 2))" }
        if let lo = e.ci95Lower, let hi = e.ci95Upper { s += "<br><small>95 % [\(f(lo)), \(f(hi))], n = \(e.count)</small>" }
        else { s += "<br><small>n = \(e.count)</small>" }
        return s + "</td>"
    }

    static func table5(_ o: Study.Outcome) -> String {
        var h = "<section id=\"table5\"><h2>Table 5 layout: the metrics at tap \(HTML.text(o.config.tap))</h2>"
        h += "<p>Mean ± one standard error over the used inputs, the percentile-bootstrap 95 % interval and the count n "
        h += "(Method.md §3–5, §10). Arrows: the direction the paper expects for a distilled network.</p>"
        h += "<table data-kind=\"table\" id=\"table5-table\"><thead><tr><th></th><th>N_fg ↑</th><th>N_bg ↓</th><th>λ ↑</th><th>D_mean ↓</th><th>D_var ↓</th><th>ρ ↑</th></tr></thead><tbody>"
        for (label, r) in [("S (distilled)", o.comparison.student), ("B (baseline)", o.comparison.baseline)] {
            h += "<tr><th>\(label)</th>" + StudyReport.estimatesForReport(r).map { estimateCell($0) }.joined() + "</tr>"
        }
        h += "</tbody></table><p class=\"settings-line\"><b>Settings:</b> \(HTML.text(StudyReport.settingsLine(o)))</p></section>"
        return h
    }

    static func accuracy(_ o: Study.Outcome, _ run: ReportRun) -> String {
        var h = "<section id=\"accuracy\"><h2>Test accuracy</h2><table data-kind=\"table\" id=\"accuracy-table\"><thead><tr><th>network</th><th>test accuracy</th><th>training samples</th><th>analysed checkpoints</th></tr></thead><tbody>"
        for (label, net) in [("T (teacher)", "teacher"), ("S (distilled)", "student"), ("B (baseline)", "baseline")] {
            let acc = o.accuracy[net].map { String(format: "%.1f %%", 100 * $0) } ?? "n/a"
            let epochs = o.analysedEpochs[net].map { $0.map(String.init).joined(separator: ", ") } ?? "—"
            h += "<tr><th>\(label)</th><td>\(acc)</td><td>\(o.trainSamples[net].map(String.init) ?? "n/a")</td><td>\(HTML.text(epochs))</td></tr>"
        }
        h += "</tbody></table><p>Measured on all \(o.testSamples) test samples.</p>"
        if let t = o.accuracy["teacher"], let b = o.accuracy["baseline"], t <= b {
            h += "<p class=\"warn\">WARNING: the teacher does not beat the baseline on held-out accuracy: the comparison is void (Method.md §6).</p>"
        }
        return h + "</section>"
    }

    static func hypotheses(_ o: Study.Outcome) -> String {
        let margin = o.comparison.hypotheses.first.map { f($0.margin) } ?? "1"
        var h = "<section id=\"hypotheses\"><h2>Hypotheses</h2>"
        h += "<p><b>Rule</b> (Method.md §10): a difference S − B counts when |S − B| &gt; \(margin) · √(SE_S² + SE_B²); "
        h += "a hypothesis is <i>supported</i> when every comparison goes the predicted way by more than that, <i>not supported</i> when any goes "
        h += "the opposite way by more than that, <i>inconclusive</i> otherwise.</p>"
        h += "<table data-kind=\"table\" id=\"hypotheses-table\"><thead><tr><th>hypothesis</th><th>verdict</th><th>metric</th><th>expected for S</th><th>S</th><th>B</th><th>S − B</th><th>combined SE</th><th>verdict</th></tr></thead><tbody>"
        for hy in o.comparison.hypotheses {
            for (k, c) in hy.comparisons.enumerated() {
                h += "<tr>"
                if k == 0 {
                    let span = hy.comparisons.count
                    h += "<td rowspan=\"\(span)\" class=\"stmt\"><b>H\(hy.number)</b> \(HTML.text(hy.statement))</td>"
                    h += "<td rowspan=\"\(span)\" class=\"verdict \(cls(hy.verdict))\">\(HTML.text(hy.verdict.rawValue))</td>"
                }
                h += "<td>\(HTML.text(c.metric))</td><td>\(HTML.text(c.expected.rawValue))</td>"
                h += "<td>\(f(c.student))\(c.studentStandardError.map { " ± \(f($0, 2))" } ?? "")</td>"
                h += "<td>\(f(c.baseline))\(c.baselineStandardError.map { " ± \(f($0, 2))" } ?? "")</td>"
                h += "<td>\(f(c.difference))</td><td>\(f(c.combinedStandardError))</td><td class=\"verdict \(cls(c.verdict))\">\(HTML.text(c.verdict.rawValue))</td></tr>"
            }
        }
        return h + "</tbody></table></section>"
    }

    static func cls(_ v: HypothesisVerdict) -> String {
        switch v { case .supported: return "yes"; case .contradicted: return "no"; case .inconclusive: return "maybe" }
    }

    static func counts(_ o: Study.Outcome) -> String {
        var h = "<section id=\"counts\"><h2>Counts</h2><table data-kind=\"table\" id=\"counts-table\"><thead><tr><th>network</th><th>checkpoints</th><th>analysed</th><th>used</th><th>no background</th><th>dropped by filter (own + other)</th><th>no points (λ = 0)</th><th>empty union</th><th>ρ undefined</th><th>‖w₀‖</th></tr></thead><tbody>"
        for r in [o.comparison.student, o.comparison.baseline] {
            let c = r.counts
            h += "<tr><th>\(HTML.text(r.network))</th><td>\(HTML.text(r.epochs.map(String.init).joined(separator: ", ")))</td><td>\(c.inputsAnalysed)</td><td>\(c.inputsUsed)</td>"
            h += "<td>\(c.noBackground)</td><td>\(c.droppedByFilter) + \(c.droppedByOtherNetwork)</td><td>\(c.noPoints)</td><td>\(c.emptyUnion)</td><td>\(c.rhoUndefined)</td><td>\(f(r.initialWeightNorm))</td></tr>"
        }
        h += "</tbody></table>"
        if !o.failedMaps.isEmpty { h += "<p class=\"warn\">\(o.failedMaps.count) maps could not be computed (their inputs are left out): \(HTML.text(o.failedMaps.prefix(5).joined(separator: "; ")))</p>" }
        if !o.flaggedMaps.isEmpty {
            h += "<p class=\"warn\">Maps flagged (loss not flat and entropy target not reached): \(HTML.text(o.flaggedMaps.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))</p>"
        }
        return h + "</section>"
    }

    static func figure4(_ run: ReportRun) -> String {
        var h = "<section id=\"fig4\"><h2>Fig. 4: knowledge points against the weight distance during training</h2>"
        let useDistance = !run.distances.isEmpty
        h += "<p>Mean N_fg and N_bg over the used inputs at every analysed checkpoint (curves.csv), against "
        h += useDistance ? "the weight distance D(m) of Method.md §4" : "the epoch"
        h += ". The paper's Fig. 4: a distilled network gains its foreground points quickly and with little detour. <small>\(HTML.text(run.distanceNote))</small></p><div class=\"row\">"
        for (net, title) in [("student", "S (distilled)"), ("baseline", "B (baseline)")] {
            let rows = run.curves.filter { $0.network == net }
            func x(_ c: ReportRun.Curve) -> Double? { useDistance ? run.distances[net]?[c.epoch] : Double(c.epoch) }
            let fg = rows.compactMap { c in x(c).flatMap { xv in c.meanFg.map { (x: xv, y: $0) } } }
            let bg = rows.compactMap { c in x(c).flatMap { xv in c.meanBg.map { (x: xv, y: $0) } } }
            h += "<figure>" + SVG.lineChart(id: "fig4-\(net)", title: "\(title): N_fg and N_bg", xLabel: useDistance ? "weight distance D(m)" : "epoch",
                                          yLabel: "mean number of points", series: [
                                              SVG.Series(name: "N_fg", color: SVG.palette[0], points: fg),
                                              SVG.Series(name: "N_bg", color: SVG.palette[1], points: bg, dashed: true),
                                          ], width: 390)
            h += "<figcaption>checkpoints \(HTML.text(rows.map { String($0.epoch) }.joined(separator: ", ")))</figcaption></figure>"
        }
        // λ per checkpoint of both networks in one chart.
        let lambdaSeries = [("student", "S λ", 0), ("baseline", "B λ", 1)].map { net, name, k in
            SVG.Series(name: name, color: SVG.palette[k], points: run.curves.filter { $0.network == net }.compactMap { c in
                let xv = useDistance ? run.distances[net]?[c.epoch] : Double(c.epoch)
                return xv.flatMap { xv in c.meanLambda.map { (x: xv, y: $0) } }
            })
        }
        h += "<figure>" + SVG.lineChart(id: "fig4-lambda", title: "λ during training", xLabel: useDistance ? "weight distance D(m)" : "epoch",
                                      yLabel: "mean λ", series: lambdaSeries, width: 390) + "<figcaption>λ = E[N_fg/(N_fg+N_bg)] per checkpoint</figcaption></figure>"
        return h + "</div></section>"
    }

    static func figure2(_ run: ReportRun) -> String {
        let o = run.outcome
        var pts: [(label: String, x: Double, y: Double, color: String)] = []
        if let a = o.accuracy["teacher"], let l = run.teacherLambda { pts.append(("T", a, l, SVG.palette[2])) }
        if let a = o.accuracy["student"], let l = o.comparison.student.lambda?.value { pts.append(("S", a, l, SVG.palette[0])) }
        if let a = o.accuracy["baseline"], let l = o.comparison.baseline.lambda?.value { pts.append(("B", a, l, SVG.palette[1])) }
        var h = "<section id=\"fig2\"><h2>Fig. 2: λ against test accuracy across networks</h2>"
        h += "<p>Each network's λ at its final checkpoint against its test accuracy. The paper's Fig. 2 finds the two positively related. "
        h += "S and B: λ from Table 5; T: λ of the teacher's final maps, computed by the report as the metrics compute it"
        h += run.teacherLambda == nil ? " (not available: no teacher maps in results.sqlite)" : " (\(run.teacherInputs) inputs, not part of any hypothesis)"
        h += ".</p>"
        h += pts.isEmpty ? "<p class=\"na\">No network has both an accuracy and a λ.</p>"
            : "<figure>" + SVG.scatter(id: "fig2-scatter", title: "λ vs test accuracy", xLabel: "test accuracy", yLabel: "λ (final checkpoint)", points: pts) + "</figure>"
        return h + "</section>"
    }

    /// Inputs shown in Fig. 5: those with the largest detours (union − final) in the student and baseline.
    static func detourInputs(_ run: ReportRun, count: Int = 4) -> [String] {
        let all = (run.detours["student"] ?? []) + (run.detours["baseline"] ?? [])
        var score: [String: Int] = [:]
        for d in all { score[d.inputID, default: 0] += d.unionCount - d.finalCount + d.unionCount }
        let withPoints = score.filter { $0.value > 0 }
        if !withPoints.isEmpty { score = withPoints }
        return score.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map(\.key).sorted()
    }

    static func figure5(_ run: ReportRun) -> String {
        var h = "<section id=\"fig5\"><h2>Fig. 5: detours — the foreground knowledge points across checkpoints</h2>"
        h += "<p>For a few inputs (those with the most points ever learned and dropped), the set S_j of foreground knowledge points at every "
        h += "analysed checkpoint j, computed from the entropy maps in results.sqlite exactly as the metrics do (Method.md §3, §5): |S_j|, "
        h += "the running union |∪ S_j| and, in the dot matrix, which units are points when (a filled dot: a point at that checkpoint; "
        h += "rows never filled in the last column are detours). ρ(x) = |S_M| / |∪ S_j|.</p>"
        let chosen = detourInputs(run)
        if chosen.isEmpty { return h + "<p class=\"na\">No maps to draw (see the notes).</p></section>" }
        for id in chosen {
            h += "<div class=\"detour\"><h3>input \(HTML.text(id))</h3><div class=\"row\">"
            for (k, net) in ["student", "baseline"].enumerated() {
                guard let d = run.detours[net]?.first(where: { $0.inputID == id }) else { continue }
                let name = net == "student" ? "S" : "B"
                let rho = d.unionCount == 0 ? "0/0" : f(Double(d.finalCount) / Double(d.unionCount))
                let safe = id.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
                h += "<figure>" + SVG.lineChart(id: "fig5-\(net)-\(safe)", title: "\(name): |S_j| and |∪ S_j|", xLabel: "epoch", yLabel: "foreground points",
                                              series: [SVG.Series(name: "|S_j|", color: SVG.palette[k], points: zip(d.epochs, d.sets).map { (x: Double($0), y: Double($1.count)) }),
                                                       SVG.Series(name: "|∪ S_j|", color: "#555", points: d.epochs.indices.filter { d.inUnion[$0] }.map { (x: Double(d.epochs[$0]), y: Double(d.cumulativeUnion[$0])) }, dashed: true)],
                                              width: 360, height: 240)
                h += dotMatrix(d)
                let check = d.recordedUnion.map { $0 == d.unionCount ? " (= study.json)" : " (study.json: \($0))" } ?? ""
                h += "<figcaption>\(name): |S_M| = \(d.finalCount), |∪| = \(d.unionCount)\(HTML.text(check)), ρ = \(rho)</figcaption></figure>"
            }
            h += "</div></div>"
        }
        return h + "</section>"
    }

    /// Rows = fg units ever in the union (at most 40), columns = checkpoints; a filled dot where the unit is a point.
    static func dotMatrix(_ d: ReportRun.Detour) -> String {
        let units = Array(Set(zip(d.sets, d.inUnion).filter(\.1).flatMap(\.0))).sorted().prefix(40)
        guard !units.isEmpty else { return "<p class=\"na\">no foreground point at any checkpoint</p>" }
        let cw = 20.0, rh = 11.0, left = 34.0, top = 14.0
        let w = left + Double(d.epochs.count) * cw + 4, hgt = top + Double(units.count) * rh + 4
        let final = Set(d.sets.last ?? [])
        var s = "<svg data-kind=\"dot-matrix\" class=\"dm\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(SVG.px(w)) \(SVG.px(hgt))\" width=\"\(SVG.px(w))\" height=\"\(SVG.px(hgt))\">"
        s += "<title>fg knowledge points of \(HTML.text(d.network)) on \(HTML.text(d.inputID)) per checkpoint</title>"
        for (j, e) in d.epochs.enumerated() {
            s += "<text x=\"\(SVG.px(left + Double(j) * cw + cw / 2))\" y=\"10\" text-anchor=\"middle\" class=\"tk\">\(e)</text>"
        }
        for (r, u) in units.enumerated() {
            let y = top + Double(r) * rh + rh / 2
            s += "<text x=\"\(SVG.px(left - 4))\" y=\"\(SVG.px(y + 3))\" text-anchor=\"end\" class=\"tk\">\(u)</text>"
            for j in 0..<d.epochs.count {
                let on = d.sets[j].contains(u)
                let color = final.contains(u) ? "#2ca02c" : "#d62728"
                s += "<circle cx=\"\(SVG.px(left + Double(j) * cw + cw / 2))\" cy=\"\(SVG.px(y))\" r=\"4\" fill=\"\(on ? color : "none")\" stroke=\"\(on ? color : "#ccc")\"/>"
            }
        }
        return s + "</svg>"
    }

    static func coherency(_ run: ReportRun) -> String {
        var h = "<section id=\"coherency\"><h2>Coherency (Fig. 1b, Method.md §8)</h2>"
        guard let c = run.coherency else {
            return h + "<p class=\"na\">No coherency.json in the run folder: run <code>kd-tool coherency \(HTML.text(run.folder.path)) --data …</code> and make the report again.</p></section>"
        }
        h += "<p>\(HTML.text(c.network)) (checkpoint \(HTML.text(c.checkpoint))): layer <b>\(HTML.text(c.layer))</b>'s weights and bias × \(f(c.scale)), "
        h += "<b>\(HTML.text(c.next))</b>'s weights × 1/\(f(c.scale)). The network's function does not change (largest change of a logit: \(f(c.maxLogitChange, 2))). "
        h += "An explanation of what the network encodes should not change either. Entropy maps at \(HTML.text(c.tap)) and at \(HTML.text(c.layerOutput)) "
        h += "(the rescaled layer's output); gradient saliency and Grad-CAM of the class logit and of the feature at \(HTML.text(c.layerOutput)). "
        h += "Largest change relative to the largest value before, over the inputs:</p>"
        h += "<table data-kind=\"table\" id=\"coherency-table\"><thead><tr><th>explanation</th><th>max |after − before|</th><th>relative</th><th>changes?</th></tr></thead><tbody>"
        for s in c.summary {
            h += "<tr><td>\(HTML.text(s.name))</td><td>\(f(s.maxChange))</td><td>\(f(s.relativeChange))</td><td class=\"verdict \(s.relativeChange > 1e-3 ? "no" : "yes")\">\(s.relativeChange > 1e-3 ? "changes" : "unchanged")</td></tr>"
        }
        h += "</tbody></table>"
        for input in c.inputs {
            h += "<div class=\"coh\"><h3>input \(HTML.text(input.inputID))</h3><table class=\"cohgrid\"><tr><th></th>"
            h += input.explanations.map { "<th>\(HTML.text($0.name))</th>" }.joined() + "</tr>"
            for (label, before) in [("before", true), ("after × \(f(c.scale))", false)] {
                h += "<tr><th>\(HTML.text(label))</th>"
                for e in input.explanations {
                    // One colour scale per explanation (before and after share it), so a change is visible.
                    let all = e.before + e.after
                    let lo = e.name.hasPrefix("entropy") ? (all.min() ?? 0) : 0, hi = all.max() ?? 1
                    let values = before ? e.before : e.after
                    let shown = e.name.hasPrefix("entropy") ? values.map { hi - $0 + lo } : values   // entropy: low = dark (kept)
                    h += "<td>" + SVG.unitGrid(shown, scaleMax: hi, scaleMin: lo, color: e.name.hasPrefix("entropy") ? (40, 60, 160) : (200, 40, 40),
                                               cell: 10, title: "\(e.name) \(label)") + "</td>"
                }
                h += "</tr>"
            }
            h += "<tr><th>max change</th>" + input.explanations.map { "<td>\(f($0.maxChange)) (\(f($0.relativeChange)) rel.)</td>" }.joined() + "</tr></table></div>"
        }
        return h + "</section>"
    }

    static func pictures(_ run: ReportRun) -> String {
        var h = "<section id=\"pictures\"><h2>Analysed inputs</h2>"
        h += "<p>One picture per analysed input (pictures/, drawn by the plugin: the input and the final entropy maps of T, S and B with their knowledge points; "
        h += "see Docs/Outputs.md). Per-input N_fg and λ at the last checkpoint from per_input.csv. Sort by: "
        h += ["order|input order", "s-nfg|S N_fg", "s-lambda|S λ", "b-nfg|B N_fg", "b-lambda|B λ"].map {
            let p = $0.split(separator: "|")
            return "<button type=\"button\" data-sort=\"\(p[0])\">\(p[1])</button>"
        }.joined(separator: " ") + " (descending)</p>"
        if run.pictures.isEmpty { h += "<p class=\"na\">No pictures in this run folder.</p>" }
        h += "<table data-kind=\"table\" id=\"pictures-table\" class=\"pics\"><thead><tr><th>#</th><th>picture</th><th>input</th><th>S N_fg</th><th>S λ</th><th>B N_fg</th><th>B λ</th></tr></thead><tbody>"
        func value(_ net: String, _ id: String) -> ReportRun.PerInput? { run.perInput.first { $0.network == net && $0.input == id } }
        for (i, p) in run.pictures.enumerated() {
            let s = value("student", p.inputID), b = value("baseline", p.inputID)
            func d(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "-1" }
            h += "<tr data-order=\"\(i)\" data-s-nfg=\"\(d(s?.nFg.map { Double($0) }))\" data-s-lambda=\"\(d(s?.lambda))\" data-b-nfg=\"\(d(b?.nFg.map { Double($0) }))\" data-b-lambda=\"\(d(b?.lambda))\">"
            h += "<td>\(i)</td><td>"
            if let png = p.png { h += "<img alt=\"\(HTML.attr(p.file))\" src=\"data:image/png;base64,\(png.base64EncodedString())\">" } else { h += "<span class=\"na\">missing</span>" }
            h += "</td><td><code>\(HTML.text(p.inputID))</code><br>\(HTML.text(p.target))<br><small>test index \(p.testIndex.map(String.init) ?? "?"), panels \(HTML.text(p.networks))</small></td>"
            for r in [s, b] {
                let status = r.map { $0.status == "used" ? "" : "<br><small>\(HTML.text($0.status))</small>" } ?? ""
                h += "<td>\(r?.nFg.map(String.init) ?? "n/a")\(status)</td><td>\(f(r?.lambda))</td>"
            }
            h += "</tr>"
        }
        return h + "</tbody></table></section>"
    }

    static func settings(_ o: Study.Outcome) -> String {
        let c = o.config, m = c.metrics
        var rows: [(String, String)] = [
            ("family", c.family), ("analysed tap", c.tap), ("distillation tap", c.effectiveDistillationTap),
            ("teacher source", c.teacherSource.description), ("widths", "T \(c.teacherWidth), S/B \(c.studentWidth)"),
            ("epochs", "T \(c.teacherEpochs), S \(c.studentEpochs) + \(c.studentStage2Epochs), B \(c.baselineEpochs)"),
            ("student data fraction", "\(c.studentDataFraction)"), ("batch size", "\(c.batchSize)"), ("seed", "\(c.seed)"),
            ("analysed inputs", "\(c.analysedInputs)"), ("entropy engine", c.entropy.summary),
            ("threshold b (nats)", "\(m.threshold)"), ("H̄", m.baselineEntropy.rawValue),
            ("weight distance", "\(m.weightDistance.rawValue), scope \(m.weightScope.rawValue)"),
            ("ρ", "initial checkpoint \(m.rhoIncludesInitial ? "included" : "excluded"), empty union \(m.rhoEmptyUnion.rawValue)"),
            ("effective-input filter", m.effectiveFilter.map { "from epoch \($0.fromEpoch)" } ?? "off"),
            ("bootstrap", "\(m.bootstrapReplicates) resamples, seed \(m.bootstrapSeed)"),
        ]
        rows += o.datasetSettings.sorted { $0.key < $1.key }.map { ("data: \($0.key)", $0.value) }
        rows += o.seconds.sorted { $0.key < $1.key }.map { ("time: \($0.key)", String(format: "%.1f s", $0.value)) }
        var h = "<section id=\"settings\"><h2>Settings that produced every number</h2><table data-kind=\"table\" id=\"settings-table\"><tbody>"
        h += rows.map { "<tr><th>\(HTML.text($0.0))</th><td>\(HTML.text($0.1))</td></tr>" }.joined()
        h += "</tbody></table><p class=\"settings-line\"><b>Settings line</b> (as in report.txt and table5.csv): \(HTML.text(StudyReport.settingsLine(o)))</p></section>"
        return h
    }

    static func notes(_ run: ReportRun) -> String {
        let h = "<section id=\"notes\"><h2>Notes</h2>"
        let mismatch = run.detours.values.flatMap { $0 }.filter { $0.recordedUnion != nil && $0.recordedUnion != $0.unionCount }
        var notes = run.notes
        if !mismatch.isEmpty { notes.append("\(mismatch.count) detour unions differ from study.json (e.g. \(mismatch[0].network) \(mismatch[0].inputID))") }
        if notes.isEmpty { return h + "<p>Every file of the run folder was read; the detour unions agree with study.json.</p></section>" }
        return h + "<ul>" + notes.map { "<li>\(HTML.text($0))</li>" }.joined() + "</ul></section>"
    }

    // MARK: - Style and script

    static let css = """
    body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:0;background:#fff}
    header{background:#24323f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}.sub{margin:4px 0 0;color:#cfd8e0}
    header code{color:#fff}nav{padding:8px 24px;background:#eef2f5;border-bottom:1px solid #d5dde3}nav a{margin-right:12px;color:#24509a;text-decoration:none}
    main{padding:8px 24px 40px;max-width:1240px}section{margin:18px 0 26px}h2{font-size:18px;border-bottom:2px solid #24323f;padding-bottom:3px}
    h3{font-size:14px;margin:10px 0 4px}table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
    thead th{background:#f3f5f7}td small{color:#666}.v{font-weight:600}.na{color:#888}
    .banner{padding:10px 14px;border-radius:4px;background:#e8f1fb;border:1px solid #9cc1e8;font-size:15px}
    .banner.composite{background:#fff4d6;border:2px solid #e0a800}.warn{color:#a40000;font-weight:600}
    .verdict.yes{background:#e3f6e5}.verdict.no{background:#fbe3e3}.verdict.maybe{background:#f6f3dc}
    .row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}figure{margin:4px 0}figcaption{font-size:12px;color:#555}
    .chart text{font-size:11px;fill:#333}.chart .ct{font-size:13px;font-weight:600}.chart .al{font-size:12px}.chart .pl{font-size:13px;font-weight:700}
    .tk{font-size:9px;fill:#555}.pics img{max-width:520px;image-rendering:pixelated}.pics td:nth-child(3){max-width:230px;word-break:break-all}.settings-line{font-size:12px;color:#444;word-break:break-word}
    button{margin:0 2px;padding:2px 8px;border:1px solid #9aa7b3;background:#f5f7f9;border-radius:3px;cursor:pointer}button.on{background:#24509a;color:#fff}
    td{white-space:nowrap}td.stmt,#settings-table td,.pics td{white-space:normal}td.stmt{min-width:260px;max-width:420px}
    .cohgrid td,.cohgrid th{text-align:center}#report-errors:empty{display:none}#report-errors{color:#a40000;white-space:pre}
    """

    static let script = """
    (function(){
      var table=document.getElementById('pictures-table');
      if(!table){return;}
      var body=table.tBodies[0];
      function sortBy(key){
        var rows=Array.prototype.slice.call(body.rows);
        var attr='data-'+key;
        rows.sort(function(a,b){
          var x=parseFloat(a.getAttribute(attr)),y=parseFloat(b.getAttribute(attr));
          if(key==='order'){return x-y;}
          return (y-x)||(parseFloat(a.getAttribute('data-order'))-parseFloat(b.getAttribute('data-order')));
        });
        rows.forEach(function(r){body.appendChild(r);});
        var buttons=document.querySelectorAll('button[data-sort]');
        for(var i=0;i<buttons.length;i++){buttons[i].className=buttons[i].getAttribute('data-sort')===key?'on':'';}
      }
      var buttons=document.querySelectorAll('button[data-sort]');
      for(var i=0;i<buttons.length;i++){
        buttons[i].addEventListener('click',function(e){sortBy(e.currentTarget.getAttribute('data-sort'));});
      }
      var m=/sort=([a-z-]+)/.exec(window.location.hash||'');
      sortBy(m&&document.querySelector('button[data-sort="'+m[1]+'"]')?m[1]:'order');
      document.body.setAttribute('data-script','ok');
    })();
    """
}

extension StudyReport {
    /// The six Table-5 estimates in the paper's column order.
    static func estimatesForReport(_ r: MetricsReport) -> [MetricEstimate?] {
        [r.foregroundPoints, r.backgroundPoints, r.lambda, r.distanceMean, r.distanceVariance, r.rho]
    }
}
