import Foundation
@testable import KDDatasets
import Testing

func expectXMLError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation,
                    _ check: (XMLError) -> Bool) {
    do {
        try body()
        Issue.record("expected an XMLError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as XMLError {
        #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an XMLError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// A Pascal VOC 2012 annotation in the exact layout of VOCdevkit/VOC2012/Annotations/*.xml.
let vocAnnotation = """
<annotation>
	<folder>VOC2012</folder>
	<filename>2007_000032.jpg</filename>
	<source>
		<database>The VOC2007 Database</database>
		<annotation>PASCAL VOC2007</annotation>
		<image>flickr</image>
	</source>
	<size>
		<width>500</width>
		<height>281</height>
		<depth>3</depth>
	</size>
	<segmented>1</segmented>
	<object>
		<name>aeroplane</name>
		<pose>Frontal</pose>
		<truncated>0</truncated>
		<difficult>0</difficult>
		<bndbox>
			<xmin>104</xmin>
			<ymin>78</ymin>
			<xmax>375</xmax>
			<ymax>183</ymax>
		</bndbox>
	</object>
	<object>
		<name>person</name>
		<pose>Rear</pose>
		<truncated>0</truncated>
		<difficult>1</difficult>
		<bndbox>
			<xmin>195.5</xmin>
			<ymin>180</ymin>
			<xmax>213</xmax>
			<ymax>229</ymax>
		</bndbox>
	</object>
</annotation>
"""

@Suite struct XMLTests {
    @Test func vocAnnotationReadsAsATree() throws {
        let root = try XML.parse(vocAnnotation, name: "2007_000032.xml")
        #expect(root.name == "annotation")
        #expect(try root.string("filename") == "2007_000032.jpg")
        #expect(try root.int("size/width") == 500)
        #expect(try root.int("size/height") == 281)
        let objects = root.children(named: "object")
        #expect(objects.map { $0.child(named: "name")?.text } == ["aeroplane", "person"])
        #expect(try objects[1].double("bndbox/xmin") == 195.5)
        #expect(objects[1].child(named: "difficult")?.text == "1")
        #expect(objects[0].line == 15)
        #expect(try objects[1].required("bndbox").line == 32)
        #expect(root.element("source/image")?.text == "flickr" && root.element("source/nothing") == nil)
    }

    @Test func entitiesCDATACommentsAndDoctype() throws {
        let text = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE annotation [ <!ELEMENT annotation ANY> ]>
        <!-- a comment with <tags> inside -->
        <annotation kind='det' note="a &lt; b &amp;&amp; c &gt; d">
          <name>caf&#233; &#x4E2D; &quot;q&quot; &apos;a&apos;</name>
          <raw><![CDATA[<not> & a tag]]></raw>
          <empty/>
          <?pi ignored?>
        </annotation>
        """
        let root = try XML.parse(text, name: "e.xml")
        #expect(root.attributes == ["kind": "det", "note": "a < b && c > d"])
        #expect(root.child(named: "name")?.text == "café 中 \"q\" 'a'")
        #expect(root.child(named: "raw")?.text == "<not> & a tag")
        #expect(root.child(named: "empty")?.children == [] && root.child(named: "empty")?.text == "")
        #expect(root.children.map(\.name) == ["name", "raw", "empty"])
        // A UTF-8 byte-order mark is allowed.
        #expect(try XML.parse(bytes: [0xEF, 0xBB, 0xBF] + Array("<a>1</a>".utf8), name: "bom.xml").text == "1")
    }

    @Test func depthBombIsRefusedAtTheLimit() throws {
        func nested(_ depth: Int) -> String { String(repeating: "<d>", count: depth) + String(repeating: "</d>", count: depth) }
        #expect(try XML.parse(nested(64), name: "ok.xml").name == "d")
        expectXMLError({ _ = try XML.parse(nested(65), name: "deep.xml") }) { $0 == .tooDeep(file: "deep.xml", line: 1, limit: 64) }
        expectXMLError({ _ = try XML.parse(nested(100_000), name: "bomb.xml") }) {
            if case .tooDeep = $0 { return true } else { return false }
        }
        expectXMLError({ _ = try XML.parse(nested(10), name: "small.xml", limits: XMLLimits(maxDepth: 5)) }) {
            if case .tooDeep(_, _, 5) = $0 { return true } else { return false }
        }
    }

    @Test func entityExpansionCannotHappen() throws {
        // "Billion laughs": entities declared in the DOCTYPE are never defined here.
        let laughs = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [
          <!ENTITY lol "lol">
          <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
          <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
        ]>
        <lolz>&lol3;</lolz>
        """
        expectXMLError({ _ = try XML.parse(laughs, name: "lolz.xml") }) {
            if case .malformed("lolz.xml", 7, let reason) = $0 { return reason.contains("undefined entity &lol3;") } else { return false }
        }
        expectXMLError({ _ = try XML.parse("<a>&#0;</a>", name: "nul.xml") }) {
            if case .malformed = $0 { return true } else { return false }
        }
        expectXMLError({ _ = try XML.parse("<a>&#xD800;</a>", name: "surrogate.xml") }) {
            if case .malformed = $0 { return true } else { return false }
        }
    }

    @Test func malformedDocumentsNameTheLine() throws {
        let cases: [(String, Int, String)] = [
            ("<a>\n<b>\n</a>", 3, "closes <b>"),
            ("<a>\n<b></b>\n", 3, "never closed"),
            ("<a x=1></a>", 1, "not quoted"),
            ("<a x='1' x='2'></a>", 1, "repeated"),
            ("<a></a>\n<b></b>", 2, "after the root"),
            ("text<a></a>", 1, "outside the root"),
            ("<a>\n<!-- unterminated", 2, "unterminated comment"),
            ("", 1, "no root"),
            ("<a>&amp</a>", 1, "entity"),
        ]
        for (text, line, fragment) in cases {
            expectXMLError({ _ = try XML.parse(text, name: "bad.xml") }) {
                if case .malformed("bad.xml", line, let reason) = $0 { return reason.contains(fragment) } else { return false }
            }
        }
        expectXMLError({ _ = try XML.parse(vocAnnotation, name: "big.xml", limits: XMLLimits(maxBytes: 100)) }) {
            if case .tooLarge(_, _, 100) = $0 { return true } else { return false }
        }
    }

    @Test func missingAndBadValuesNameElementAndLine() throws {
        let root = try XML.parse(vocAnnotation, name: "2007_000032.xml")
        let object = root.children(named: "object")[0]
        expectXMLError({ _ = try object.int("bndbox/zmin") }) {
            $0 == .missing(file: "2007_000032.xml", line: 20, element: "bndbox", child: "zmin")
        }
        expectXMLError({ _ = try object.int("name") }) {
            $0 == .badValue(file: "2007_000032.xml", line: 16, element: "name", expected: "an integer", found: "aeroplane")
        }
        let bad = try XML.parse("<o><x>nan</x></o>", name: "n.xml")
        expectXMLError({ _ = try bad.double("x") }) { if case .badValue = $0 { return true } else { return false } }
    }
}
