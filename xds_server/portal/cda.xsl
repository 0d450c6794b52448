<?xml version="1.0" encoding="UTF-8"?>
<!-- A CDA R2 document as a small HTML fragment for the patient portal: the header's essentials and every
     section's title and narrative block (NarrativeBlock elements mapped to plain HTML). Nothing here
     loads another document, runs a script or copies an attribute through: the output is text, headings,
     paragraphs, lists and tables only, and xds_server/portal/cda.py cleans it again after the transform. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:cda="urn:hl7-org:v3"
  exclude-result-prefixes="cda">
  <xsl:output method="html" encoding="UTF-8" omit-xml-declaration="yes"/>

  <xsl:template match="/">
    <div class="cda">
      <xsl:apply-templates select="cda:ClinicalDocument"/>
    </div>
  </xsl:template>

  <xsl:template match="cda:ClinicalDocument">
    <dl class="cda-entete">
      <xsl:if test="cda:effectiveTime/@value">
        <dt>Date</dt><dd><xsl:value-of select="cda:effectiveTime/@value"/></dd>
      </xsl:if>
      <xsl:for-each select="cda:author/cda:assignedAuthor/cda:assignedPerson/cda:name">
        <dt>Auteur</dt><dd><xsl:value-of select="normalize-space(.)"/></dd>
      </xsl:for-each>
      <xsl:for-each select="cda:custodian//cda:representedCustodianOrganization/cda:name">
        <dt>Établissement</dt><dd><xsl:value-of select="normalize-space(.)"/></dd>
      </xsl:for-each>
    </dl>
    <xsl:apply-templates select="cda:component/cda:structuredBody/cda:component/cda:section"/>
    <xsl:for-each select="cda:component/cda:nonXMLBody/cda:text[not(@representation='B64')]">
      <pre><xsl:value-of select="."/></pre>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="cda:section">
    <section class="cda-section">
      <xsl:if test="cda:title">
        <h3><xsl:value-of select="normalize-space(cda:title)"/></h3>
      </xsl:if>
      <xsl:apply-templates select="cda:text"/>
      <xsl:apply-templates select="cda:component/cda:section"/>
    </section>
  </xsl:template>

  <xsl:template match="cda:text"><div class="cda-texte"><xsl:apply-templates/></div></xsl:template>
  <xsl:template match="cda:paragraph"><p><xsl:apply-templates/></p></xsl:template>
  <xsl:template match="cda:br"><br/></xsl:template>
  <xsl:template match="cda:list[@listType='ordered']"><ol><xsl:apply-templates select="cda:item"/></ol></xsl:template>
  <xsl:template match="cda:list"><ul><xsl:apply-templates select="cda:item"/></ul></xsl:template>
  <xsl:template match="cda:item"><li><xsl:apply-templates/></li></xsl:template>
  <xsl:template match="cda:caption"><strong><xsl:apply-templates/></strong></xsl:template>
  <xsl:template match="cda:content"><span><xsl:apply-templates/></span></xsl:template>
  <xsl:template match="cda:table"><table><xsl:apply-templates select="cda:caption|cda:thead|cda:tbody|cda:tr"/></table></xsl:template>
  <xsl:template match="cda:table/cda:caption"><caption><xsl:apply-templates/></caption></xsl:template>
  <xsl:template match="cda:thead"><thead><xsl:apply-templates select="cda:tr"/></thead></xsl:template>
  <xsl:template match="cda:tbody"><tbody><xsl:apply-templates select="cda:tr"/></tbody></xsl:template>
  <xsl:template match="cda:tr"><tr><xsl:apply-templates select="cda:th|cda:td"/></tr></xsl:template>
  <xsl:template match="cda:th"><th scope="col"><xsl:apply-templates/></th></xsl:template>
  <xsl:template match="cda:td"><td><xsl:apply-templates/></td></xsl:template>
  <!-- links, images and footnotes: their text only -->
  <xsl:template match="cda:linkHtml|cda:sub|cda:sup|cda:footnote|cda:footnoteRef"><xsl:value-of select="."/></xsl:template>
  <xsl:template match="cda:renderMultiMedia"/>
  <xsl:template match="text()"><xsl:value-of select="."/></xsl:template>
  <xsl:template match="*"><xsl:apply-templates/></xsl:template>
</xsl:stylesheet>
