// The part of a VOC-style annotation XML (Pascal VOC, ILSVRC DET) that the readers use, parsed as
// the member streams by so that only these few values are kept, never the member's bytes or its
// element tree (ILSVRC DET has 450,000 annotation files).
import Foundation
import KDCore
import KDDatasets

struct XMLAnnotation {
    struct Object {
        var name: String
        var difficult: Bool
        /// xmin, ymin, xmax, ymax as written (the reader applies its convention).
        var xmin: Double, ymin: Double, xmax: Double, ymax: Double
    }

    /// `<filename>`, when present and not empty.
    var filename: String?
    /// One entry per `<object>`, in document order: the object, or why it cannot be used.
    var objects: [Result<Object, Error>]

    init(bytes: [UInt8], name: String) throws {
        let document = try XML.parse(bytes: bytes, name: name)
        let file = document.element("filename")?.text ?? ""
        filename = file.isEmpty ? nil : file
        objects = document.children(named: "object").map { object in
            Result(catching: {
                let b = try object.required("bndbox")
                return Object(name: try object.string("name"), difficult: object.child(named: "difficult")?.text == "1",
                              xmin: try b.double("xmin"), ymin: try b.double("ymin"),
                              xmax: try b.double("xmax"), ymax: try b.double("ymax"))
            })
        }
    }
}
