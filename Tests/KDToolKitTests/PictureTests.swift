import KDCore
import Testing
@testable import KDToolKit

/// Pictures mark knowledge points with the metrics' rule: H̄ over background units only, ignored units never
/// points, a dataset-level H̄ used when given.
@Suite struct PictureKnowledgePointTests {
    @Test func ignoredUnitsTakeNoPartAndAreNeverPoints() {
        let h: [Float] = [-5, -1, -1, -9, -3]
        let roles: [UnitRole] = [.foreground, .background, .background, .ignored, .foreground]
        // H̄ = −1 (the ignored −9 is not background): points where −1 − h > 0.5.
        #expect(StudyRunner.knowledgePoints(h, roles: roles, threshold: 0.5, baseline: nil) == [true, false, false, false, true])
        // A dataset-level H̄ replaces the input's own.
        #expect(StudyRunner.knowledgePoints(h, roles: roles, threshold: 0.5, baseline: -4) == [true, false, false, false, false])
        // No background unit and no dataset-level H̄: no points.
        #expect(StudyRunner.knowledgePoints([-5, -1], roles: [.foreground, .ignored], threshold: 0.5, baseline: nil) == [false, false])
    }
}
